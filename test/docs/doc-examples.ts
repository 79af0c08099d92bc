/**
 * Keeps the documentation honest: finds the examples in Markdown (fenced `yaml` blocks, `sealwatch …`
 * command lines in shell blocks, relative links and repository paths) and checks each against the real
 * thing — the config loader a user's file goes through, the CLI's commander definitions, the files.
 *
 * Markers, written on the line right before a fence (keep them few):
 * - `<!-- fragment -->` or `<!-- fragment: rotation.targets -->`: the YAML block is part of a config
 *   (at the top level, or under that key path) and is merged into a minimal config before loading;
 * - `<!-- not-config -->`: the YAML block is not a sealwatch config (an OpenBao stanza, say): skipped.
 */
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import type { Command, Option } from 'commander';
import { isNode, LineCounter, parseDocument, stringify } from 'yaml';
import { loadConfig } from '../../src/config/load.js';
import { ConfigError } from '../../src/errors.js';

/** One thing wrong in a document: where, and what. */
export interface Problem {
  readonly file: string;
  readonly line: number;
  readonly message: string;
}

export const formatProblem = (p: Problem): string => `${p.file}:${p.line}: ${p.message}`;

export type BlockMarker =
  { readonly kind: 'fragment'; readonly under: readonly string[] } | { readonly kind: 'not-config' };

export interface FencedBlock {
  readonly file: string;
  /** The info string's first word (`yaml`, `sh`, …), lower case; '' when none. */
  readonly lang: string;
  /** Line number (1-based) of the block's first content line. */
  readonly line: number;
  readonly text: string;
  readonly marker: BlockMarker | undefined;
}

const FENCE = /^( {0,3})(`{3,}|~{3,})\s*([^\s`]*)/;
const MARKER = /^<!--\s*(fragment(?::\s*([\w.-]+))?|not-config)\s*-->$/;

/** Every fenced code block of a Markdown document, with the marker written right before it. */
export function fencedBlocks(file: string, markdown: string): FencedBlock[] {
  const lines = markdown.split('\n');
  const blocks: FencedBlock[] = [];
  for (let i = 0; i < lines.length; i++) {
    const open = FENCE.exec(lines[i]!);
    if (!open) continue;
    const [, indent = '', fence = '', info = ''] = open;
    const body: string[] = [];
    let j = i + 1;
    for (; j < lines.length; j++) {
      const line = lines[j]!;
      if (line.trim().startsWith(fence[0]!.repeat(fence.length)) && line.trim().replace(/[`~]/g, '') === '')
        break;
      body.push(line.startsWith(indent) ? line.slice(indent.length) : line.trimStart());
    }
    let k = i - 1;
    while (k >= 0 && lines[k]!.trim() === '') k--;
    const marked = k >= 0 ? MARKER.exec(lines[k]!.trim()) : null;
    const marker: BlockMarker | undefined = !marked
      ? undefined
      : marked[1] === 'not-config'
        ? { kind: 'not-config' }
        : { kind: 'fragment', under: marked[2] ? marked[2].split('.') : [] };
    blocks.push({ file, lang: info.toLowerCase(), line: i + 2, text: body.join('\n'), marker });
    i = j;
  }
  return blocks;
}

/** The smallest config a fragment is merged into: one node, one tenant path. */
const MINIMAL_CONFIG = {
  vault: { addresses: ['http://127.0.0.1:8200'] },
  tenancy: { paths: ['secret/tenants/{tenant}/smtp'] },
};

const isYaml = (block: FencedBlock) => block.lang === 'yaml' || block.lang === 'yml';

/**
 * Loads a `yaml` block through sealwatch's own config loader (src/config/load.ts), as a user's
 * sealwatch.yaml would be, and reports what it refuses at the block's line.
 */
export function checkYamlBlock(block: FencedBlock): Problem[] {
  if (!isYaml(block) || block.marker?.kind === 'not-config') return [];
  const lineCounter = new LineCounter();
  const doc = parseDocument(block.text, { prettyErrors: true, lineCounter });
  const syntax = doc.errors[0];
  if (syntax) {
    const at = syntax.linePos?.[0];
    return [
      {
        file: block.file,
        line: block.line + (at ? at.line - 1 : 0),
        message: `YAML example is not valid YAML${at ? ` (column ${at.col})` : ''}: ${syntax.message.split('\n')[0]?.replace(/ at line \d+, column \d+:?$/, '')}`,
      },
    ];
  }
  const under = block.marker?.kind === 'fragment' ? block.marker.under : undefined;
  let text = block.text;
  if (under) {
    let fragment: unknown = doc.toJS();
    for (const key of [...under].reverse()) fragment = { [key]: fragment };
    text = stringify(deepMerge(MINIMAL_CONFIG, fragment));
  }
  const dir = mkdtempSync(join(tmpdir(), 'sealwatch-doc-'));
  const configFile = join(dir, 'sealwatch.yaml');
  try {
    writeFileSync(configFile, text);
    loadConfig({ config: configFile }, {}, dir);
    return [];
  } catch (error) {
    // Only the loader's own refusal is a finding about the example; anything else is a bug here.
    if (!(error instanceof ConfigError)) throw error;
    const keyPath = configKeyPath(error.message);
    const inBlock = keyPath && under ? keyPath.slice(under.length) : keyPath;
    const node = inBlock ? doc.getIn(inBlock, true) : undefined;
    const offset = isNode(node) ? node.range?.[0] : undefined;
    const line = offset === undefined ? block.line : block.line + lineCounter.linePos(offset).line - 1;
    const what = error.message.replace(`config file ${configFile}`, '').replace(/^:\s*/, '');
    return [
      {
        file: block.file,
        line,
        message: `${under ? 'YAML fragment' : 'YAML example'} does not load as a sealwatch config: ${what}`,
      },
    ];
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** The key a loader message names (`rotation.secrets.0.path: …`, `unknown key "vault.adresses"`). */
function configKeyPath(message: string): (string | number)[] | undefined {
  const named = /unknown key "([^"]+)"/.exec(message)?.[1] ?? /\.yaml: ([\w.-]+): /.exec(message)?.[1];
  return named?.split('.').map((part) => (/^\d+$/.test(part) ? Number(part) : part));
}

function deepMerge(base: unknown, over: unknown): unknown {
  if (!isPlainObject(base) || !isPlainObject(over)) return over;
  const merged: Record<string, unknown> = { ...base };
  for (const [key, value] of Object.entries(over)) merged[key] = deepMerge(base[key], value);
  return merged;
}

const isPlainObject = (value: unknown): value is Record<string, unknown> =>
  typeof value === 'object' && value !== null && !Array.isArray(value);

/** A `sealwatch …` invocation found in a shell block (continuation lines joined, comment removed). */
export interface CommandLine {
  readonly file: string;
  readonly line: number;
  /** The words after `sealwatch`. */
  readonly text: string;
}

const SHELL_LANGS = new Set(['sh', 'bash', 'shell', 'console', 'zsh']);
const SEALWATCH = /^(?:sealwatch|node\s+dist\/cli\/main\.js)(?:\s+|$)/;

export function commandLines(block: FencedBlock): CommandLine[] {
  if (!SHELL_LANGS.has(block.lang)) return [];
  const found: CommandLine[] = [];
  const lines = block.text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const first = i;
    let text = lines[i]!;
    if (block.lang === 'console') {
      if (!text.startsWith('$ ')) continue;
      text = text.slice(2);
    }
    while (text.trimEnd().endsWith('\\') && i + 1 < lines.length)
      text = `${text.trimEnd().slice(0, -1)} ${lines[++i]!.trim()}`;
    for (const segment of stripComment(text).split(/\s(?:&&|;)\s/)) {
      const match = SEALWATCH.exec(segment.trim());
      if (match)
        found.push({
          file: block.file,
          line: block.line + first,
          text: segment.trim().slice(match[0].length),
        });
    }
  }
  return found;
}

/** The line without its `# comment` (a `#` that starts a word, outside quotes). */
function stripComment(line: string): string {
  let quote: string | undefined;
  for (let i = 0; i < line.length; i++) {
    const c = line[i]!;
    if (quote) {
      if (c === quote) quote = undefined;
    } else if (c === '"' || c === "'") quote = c;
    else if (c === '#' && (i === 0 || /\s/.test(line[i - 1]!))) return line.slice(0, i);
  }
  return line;
}

/**
 * Splits a usage line into alternatives (`list | show ID | resume …`: a `|` between words, outside
 * brackets) and each into words, dropping the synopsis brackets; `ID|--last` inside brackets is two
 * words, `md|html|json` (a value's choices) one.
 */
function synopsisAlternatives(text: string): string[][] {
  const alternatives: string[][] = [[]];
  let depth = 0;
  let word = '';
  let quote: string | undefined;
  const flush = () => {
    const words = word.split('|');
    const split = words.length > 1 && words.some((w) => w.startsWith('-')) ? words : [word];
    for (const w of split) {
      const clean = w.replace(/(\.\.\.|…)$/, '');
      if (clean !== '') alternatives[alternatives.length - 1]!.push(clean);
    }
    word = '';
  };
  for (let i = 0; i < text.length; i++) {
    const c = text[i]!;
    if (quote) {
      if (c === quote) quote = undefined;
      else word += c;
    } else if (c === '"' || c === "'") quote = c;
    else if (c === '[' || c === '(') {
      flush();
      depth++;
    } else if (c === ']' || c === ')') {
      flush();
      depth = Math.max(0, depth - 1);
    } else if (/\s/.test(c)) flush();
    else if (c === '|' && word === '') {
      // Between words: at the top level it starts an alternative; inside brackets it only separates.
      if (depth === 0) alternatives.push([]);
    } else word += c;
  }
  flush();
  return alternatives;
}

function findOption(command: Command, flag: string): Option | undefined {
  for (let c: Command | null = command; c; c = c.parent)
    for (const option of c.options) if (option.long === flag || option.short === flag) return option;
  return undefined;
}

const commandPath = (command: Command): string => {
  const names: string[] = [];
  for (let c: Command | null = command; c; c = c.parent) names.unshift(c.name());
  return names.join(' ');
};

const subcommand = (command: Command, name: string) =>
  command.commands.find((c) => c.name() === name || c.aliases().includes(name));

/**
 * Checks a command line against the program's commander definitions: every command word names a
 * command, every flag is an option of that command or of one above it. Values and placeholders
 * (FILE, N) are not judged. A `|` whose next word is no sibling command is a shell pipe: what
 * follows is another program's.
 */
export function checkCommandLine(program: Command, command: CommandLine): Problem[] {
  const problems: Problem[] = [];
  const problem = (message: string) => problems.push({ file: command.file, line: command.line, message });
  let start: Command = program;
  for (const [index, words] of synopsisAlternatives(command.text).entries()) {
    if (index > 0 && (words[0] === undefined || !subcommand(start, words[0]))) break;
    let current = start;
    let descended = false;
    for (let i = 0; i < words.length; i++) {
      const word = words[i]!;
      // A redirection (`< file`, `>out`, `2>&1`) is the shell's, not sealwatch's.
      if (/^(\d?>>?|<|&>)/.test(word)) {
        if (/^(\d?>>?|<|&>)$/.test(word)) i++;
        continue;
      }
      if (word.startsWith('-') && word !== '-') {
        const flag = word.split('=')[0]!;
        if (flag === '--help' || flag === '-h') continue;
        const option = findOption(current, flag);
        if (!option) {
          problem(`\`${commandPath(current)}\` has no option ${flag}`);
          continue;
        }
        if ((option.required || option.optional) && !word.includes('=')) {
          if (option.variadic) while (words[i + 1] !== undefined && !words[i + 1]!.startsWith('-')) i++;
          else if (words[i + 1] !== undefined && (option.required || !words[i + 1]!.startsWith('-'))) i++;
        }
        continue;
      }
      const next = subcommand(current, word);
      if (next) {
        if (!descended) start = current;
        current = next;
        descended = true;
        continue;
      }
      if (current.registeredArguments.length === 0) {
        problem(
          current.commands.length > 0
            ? `\`${commandPath(current)}\` has no command ${word} (commands: ${current.commands.map((c) => c.name()).join(', ')})`
            : `\`${commandPath(current)}\` takes no argument, but the example gives ${word}`,
        );
        break;
      }
    }
    if (index === 0) start = current.parent ?? program;
  }
  return problems;
}

/** Top-level entries of the repository that the docs may name (build output and state are not). */
function repositoryEntries(repoRoot: string): Set<string> {
  const ignored = new Set(['.git', 'node_modules', 'dist', '.sealwatch', 'coverage']);
  return new Set(readdirSync(repoRoot).filter((name) => !ignored.has(name)));
}

/** GitHub's anchor for a heading. */
export function headingAnchor(heading: string): string {
  return heading
    .trim()
    .toLowerCase()
    .replace(/`/g, '')
    .replace(/[^\p{L}\p{N}\s_-]/gu, '')
    .replace(/\s/g, '-');
}

function anchorsOf(markdown: string): Set<string> {
  const anchors = new Set<string>();
  const seen = new Map<string, number>();
  let inFence = false;
  for (const line of markdown.split('\n')) {
    if (FENCE.test(line)) inFence = !inFence;
    const heading = !inFence ? /^#{1,6}\s+(.*)$/.exec(line) : null;
    if (!heading) continue;
    const base = headingAnchor(heading[1]!);
    const n = seen.get(base) ?? 0;
    seen.set(base, n + 1);
    anchors.add(n === 0 ? base : `${base}-${n}`);
  }
  return anchors;
}

function pathExists(repoRoot: string, path: string): boolean {
  if (!path.includes('*')) return existsSync(resolve(repoRoot, path));
  // A glob in the last segment (`src/assess/rules/*.rule.ts`): at least one file matches.
  const dir = resolve(repoRoot, dirname(path));
  const pattern = new RegExp(
    `^${path
      .slice(path.lastIndexOf('/') + 1)
      .replace(/[.+?^${}()|[\]\\]/g, '\\$&')
      .replace(/\*/g, '.*')}$`,
  );
  return existsSync(dir) && statSync(dir).isDirectory() && readdirSync(dir).some((n) => pattern.test(n));
}

/**
 * Every relative link (`[text](docs/x.md#anchor)`: the file, and the heading when one is named) and
 * every repository path written as code (`src/…`, `./scripts/drill`) outside YAML must exist.
 * `file` is the document's path relative to `repoRoot`.
 */
export function checkPaths(file: string, markdown: string, repoRoot: string): Problem[] {
  const problems: Problem[] = [];
  const entries = repositoryEntries(repoRoot);
  const lines = markdown.split('\n');
  let fence: FencedBlock['lang'] | undefined;
  for (const [index, line] of lines.entries()) {
    const at = { file, line: index + 1 };
    const open = FENCE.exec(line);
    if (open) {
      fence = fence === undefined ? (open[3] ?? '').toLowerCase() : undefined;
      continue;
    }
    if (fence !== undefined && !SHELL_LANGS.has(fence)) continue;
    const prose = fence === undefined;
    if (prose)
      for (const link of line.matchAll(/\[[^\]]*\]\(([^)\s]+)\)/g)) {
        const target = link[1]!;
        if (/^[a-z][a-z0-9+.-]*:/i.test(target)) continue;
        const [path = '', anchor] = target.split('#', 2);
        const resolved = resolve(repoRoot, join(dirname(file), path));
        if (path !== '' && !existsSync(resolved)) {
          problems.push({ ...at, message: `link to ${target}: ${path} does not exist` });
          continue;
        }
        const headings =
          path === '' ? markdown : resolved.endsWith('.md') ? readFileSync(resolved, 'utf8') : undefined;
        if (anchor && headings !== undefined && !anchorsOf(headings).has(anchor))
          problems.push({
            ...at,
            message: `link to ${target}: no heading #${anchor} in ${path || 'this file'}`,
          });
      }
    const words = prose
      ? [...line.matchAll(/`([^`]+)`/g)].flatMap((code) => code[1]!.split(/\s+/))
      : stripComment(line).split(/\s+/);
    for (const raw of words) {
      const word = raw.replace(/^\.\//, '').replace(/[,;:.)]+$/, '');
      if (/[<>{}…$]/.test(word) || word.startsWith('-')) continue;
      const top = word.split('/')[0]!;
      if (!entries.has(top) || (!word.includes('/') && !/\.\w+$/.test(word))) continue;
      if (!pathExists(repoRoot, word))
        problems.push({ ...at, message: `names ${word}, which does not exist` });
    }
  }
  return problems;
}

/** Every check over one Markdown document. */
export function checkDocument(file: string, markdown: string, program: Command, repoRoot: string): Problem[] {
  const blocks = fencedBlocks(file, markdown);
  return [
    ...blocks.flatMap(checkYamlBlock),
    ...blocks.flatMap(commandLines).flatMap((command) => checkCommandLine(program, command)),
    ...blocks
      .filter((b) => b.marker && !isYaml(b))
      .map((b) => ({
        file,
        line: b.line - 1,
        message: `a ${b.marker!.kind} marker only applies to a yaml block`,
      })),
    ...checkPaths(file, markdown, repoRoot),
  ].sort((a, b) => a.line - b.line);
}
