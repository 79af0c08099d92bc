/**
 * Tenant path templates such as `secret/tenants/{tenant}/smtp` or `secret/api_keys/{tenant}/{key_id}`.
 *
 * Operators write them as they write KV paths on the command line. The API (and so the audit log)
 * sees KV v2 paths with `data/`, `metadata/`, `delete/`, `undelete/` or `destroy/` after the mount,
 * and a mount may span several segments (`kv/customers/`), so a template matches the plain form and
 * the API form with that infix after any of its leading literal segments. Tenants are found by
 * position in the template, never by splitting a path at a fixed index.
 */

const KV_V2_INFIXES = ['data', 'metadata', 'delete', 'undelete', 'destroy'] as const;
export type KvV2Infix = (typeof KV_V2_INFIXES)[number];

const PLACEHOLDER = /^\{([a-z_][a-z0-9_]*)\}$/;

export type TemplateSegment = { kind: 'literal'; value: string } | { kind: 'var'; name: string };

export interface PathTemplate {
  readonly source: string;
  readonly segments: readonly TemplateSegment[];
}

export interface ParsedTemplate {
  template?: PathTemplate;
  problem?: string;
}

export interface TemplateMatch {
  tenant: string;
  vars: Record<string, string>;
  /** The KV v2 API infix the path used, if any (`data` for reads and writes of values). */
  infix?: KvV2Infix;
  /** False when the path stops after the tenant segment but before the template's end (a listing). */
  complete: boolean;
}

export function parsePathTemplate(source: string): ParsedTemplate {
  const trimmed = source.trim().replace(/^\/+|\/+$/g, '');
  if (trimmed === '') return { problem: 'template is empty' };
  const segments: TemplateSegment[] = [];
  for (const part of trimmed.split('/')) {
    if (part === '') return { problem: `template "${source}" has an empty segment` };
    const variable = PLACEHOLDER.exec(part);
    if (variable?.[1]) segments.push({ kind: 'var', name: variable[1] });
    else if (part.includes('{') || part.includes('}'))
      return { problem: `template "${source}" has a malformed placeholder "${part}" (use {name})` };
    else segments.push({ kind: 'literal', value: part });
  }
  const names = segments.flatMap((s) => (s.kind === 'var' ? [s.name] : []));
  const tenantCount = names.filter((n) => n === 'tenant').length;
  if (tenantCount !== 1) return { problem: `template "${source}" must contain {tenant} exactly once` };
  if (new Set(names).size !== names.length)
    return { problem: `template "${source}" repeats a placeholder name` };
  if (segments[0]?.kind !== 'literal')
    return { problem: `template "${source}" must start with a mount path, not a placeholder` };
  return { template: { source: trimmed, segments } };
}

export function mustParsePathTemplate(source: string): PathTemplate {
  const parsed = parsePathTemplate(source);
  if (!parsed.template) throw new Error(parsed.problem);
  return parsed.template;
}

/** Matches paths against templates; built once, used on hot paths (audit ingestion, assessment). */
export class PathTemplateMatcher {
  constructor(readonly templates: readonly PathTemplate[]) {}

  /** The first template that matches `path` (API or CLI form, with or without a leading `/v1/`). */
  match(path: string): (TemplateMatch & { template: PathTemplate }) | undefined {
    const parts = path
      .replace(/^\/?(v1\/)?/, '')
      .replace(/\/+$/, '')
      .split('/');
    for (const template of this.templates) {
      const plain = matchSegments(template, parts);
      if (plain) return { template, ...plain };
      const firstVar = template.segments.findIndex((s) => s.kind === 'var');
      for (let boundary = 1; boundary <= firstVar; boundary++) {
        const infix = parts[boundary];
        if (!isInfix(infix)) continue;
        const withoutInfix = [...parts.slice(0, boundary), ...parts.slice(boundary + 1)];
        const viaApi = matchSegments(template, withoutInfix);
        if (viaApi) return { template, ...viaApi, infix };
      }
    }
    return undefined;
  }
}

function isInfix(value: string | undefined): value is KvV2Infix {
  return value !== undefined && (KV_V2_INFIXES as readonly string[]).includes(value);
}

function matchSegments(template: PathTemplate, parts: readonly string[]): TemplateMatch | undefined {
  const { segments } = template;
  if (parts.length > segments.length) return undefined;
  const vars: Record<string, string> = {};
  for (let i = 0; i < parts.length; i++) {
    const segment = segments[i];
    const part = parts[i];
    if (segment === undefined || part === undefined || part === '') return undefined;
    if (segment.kind === 'literal') {
      if (segment.value !== part) return undefined;
    } else vars[segment.name] = part;
  }
  const tenant = vars['tenant'];
  if (tenant === undefined) return undefined;
  return { tenant, vars, complete: parts.length === segments.length };
}
