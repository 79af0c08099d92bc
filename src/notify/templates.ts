import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ConfigError, describeSystemError } from '../errors.js';
import { redactText } from '../logging/redactor.js';

/** The shipped templates: <package>/templates (from src/notify, dist/notify or the bundle in dist/cli alike). */
export const DEFAULT_TEMPLATES_DIR = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'templates');

export const TEMPLATE_FILES = {
  subject: 'notice.subject.txt',
  text: 'notice.text.txt',
  html: 'notice.html',
} as const;

export type NoticeTemplates = Record<keyof typeof TEMPLATE_FILES, string>;

export const NOTICE_VARIABLES = [
  'incident_id',
  'tenant',
  'tenant_name',
  'domain',
  'actions',
  'required_actions',
  'sender',
  'exposure',
] as const;
export type NoticeVariables = Record<(typeof NOTICE_VARIABLES)[number], string>;

const PLACEHOLDER = /\{\{\s*([a-z_]+)\s*\}\}/g;

/**
 * Reads the three templates, each from the configured directory when it has that file, else the
 * shipped default. A placeholder that is not a known variable is a config error at load time,
 * not a notice with a hole in it.
 */
export function loadTemplates(dir?: string): NoticeTemplates {
  const read = (name: string): string => {
    const file = dir && existsSync(join(dir, name)) ? join(dir, name) : join(DEFAULT_TEMPLATES_DIR, name);
    let text: string;
    try {
      text = readFileSync(file, 'utf8');
    } catch (error) {
      throw new ConfigError(`notice template ${file} cannot be read: ${describeSystemError(error)}`);
    }
    for (const [, name2] of text.matchAll(PLACEHOLDER))
      if (!(NOTICE_VARIABLES as readonly string[]).includes(name2!))
        throw new ConfigError(
          `notice template ${file}: unknown placeholder {{${name2}}} (known: ${NOTICE_VARIABLES.join(', ')})`,
        );
    return text;
  };
  return {
    subject: read(TEMPLATE_FILES.subject),
    text: read(TEMPLATE_FILES.text),
    html: read(TEMPLATE_FILES.html),
  };
}

const HTML_ESCAPES: Record<string, string> = {
  '&': '&amp;',
  '<': '&lt;',
  '>': '&gt;',
  '"': '&quot;',
  "'": '&#39;',
};
export const escapeHtml = (value: string) => value.replace(/[&<>"']/g, (c) => HTML_ESCAPES[c]!);

/** `{{name}}` substitution, nothing else: no expressions, no partials, no HTML from values. */
export function render(template: string, values: NoticeVariables, mode: 'text' | 'html' | 'header'): string {
  return template.replace(PLACEHOLDER, (_, name: keyof NoticeVariables) => {
    // Values come from the journal and the store; a secret that got there must not reach a tenant.
    const value = redactText(values[name] ?? '');
    if (mode === 'html') return escapeHtml(value).replace(/\n/g, '<br>\n');
    if (mode === 'header') return value.replace(/[\r\n]+/g, ' ');
    return value;
  });
}

export interface RenderedNotice {
  subject: string;
  text: string;
  html: string;
}

export function renderNotice(templates: NoticeTemplates, values: NoticeVariables): RenderedNotice {
  return {
    subject: render(templates.subject, values, 'header').trim(),
    text: render(templates.text, values, 'text'),
    html: render(templates.html, values, 'html'),
  };
}
