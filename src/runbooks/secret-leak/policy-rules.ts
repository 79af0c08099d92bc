import { createPatch } from 'diff';

/**
 * Just enough of Vault/OpenBao ACL policies to say which rule let a token read a path and to
 * deny that exact path: the `path "…" { capabilities = [...] }` blocks of a policy (HCL or JSON)
 * and the server's priority matching. Other attributes (allowed_parameters, …) are skipped.
 */
export interface PolicyRule {
  /** The path pattern as written: `secret/data/tenants/+/smtp`, `secret/*`. */
  path: string;
  capabilities: string[];
}

/** The rules of one policy text; a text that is neither form yields what could be read of it. */
export function policyRules(text: string): PolicyRule[] {
  const trimmed = text.trim();
  if (trimmed.startsWith('{')) {
    try {
      return jsonRules(JSON.parse(trimmed) as unknown);
    } catch {
      // Not JSON after all: HCL blocks can also start a file with a brace-less comment; fall through.
    }
  }
  return hclRules(text);
}

function jsonRules(doc: unknown): PolicyRule[] {
  const paths = (doc as { path?: unknown }).path;
  if (!paths || typeof paths !== 'object') return [];
  return Object.entries(paths as Record<string, unknown>).map(([path, body]) => ({
    path,
    capabilities: stringArray((body as { capabilities?: unknown } | null)?.capabilities),
  }));
}

const stringArray = (value: unknown): string[] =>
  Array.isArray(value) ? value.filter((v): v is string => typeof v === 'string') : [];

/** HCL: `path "<pattern>" { … capabilities = ["read", …] … }`, braces counted so nested blocks are skipped. */
function hclRules(text: string): PolicyRule[] {
  const source = stripHclComments(text);
  const rules: PolicyRule[] = [];
  const header = /\bpath\s+"((?:[^"\\]|\\.)*)"\s*\{/g;
  for (let match = header.exec(source); match; match = header.exec(source)) {
    const start = header.lastIndex;
    const end = closingBrace(source, start);
    const body = source.slice(start, end);
    const topLevel = body.replace(/\{[^{}]*\}/g, '');
    const caps = /\bcapabilities\s*=\s*\[([^\]]*)\]/.exec(topLevel);
    rules.push({
      path: JSON.parse(`"${match[1]!}"`) as string,
      capabilities: caps ? [...caps[1]!.matchAll(/"([^"]*)"/g)].map((m) => m[1]!) : [],
    });
    header.lastIndex = end;
  }
  return rules;
}

function stripHclComments(text: string): string {
  let out = '';
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i]!;
    if (inString) {
      out += c;
      if (c === '\\') out += text[++i] ?? '';
      else if (c === '"') inString = false;
      continue;
    }
    if (c === '"') inString = true;
    else if (c === '#' || (c === '/' && text[i + 1] === '/')) {
      while (i < text.length && text[i] !== '\n') i++;
      out += '\n';
      continue;
    } else if (c === '/' && text[i + 1] === '*') {
      const close = text.indexOf('*/', i + 2);
      i = close === -1 ? text.length : close + 1;
      continue;
    }
    out += c;
  }
  return out;
}

function closingBrace(source: string, from: number): number {
  let depth = 1;
  let inString = false;
  for (let i = from; i < source.length; i++) {
    const c = source[i]!;
    if (inString) {
      if (c === '\\') i++;
      else if (c === '"') inString = false;
    } else if (c === '"') inString = true;
    else if (c === '{') depth++;
    else if (c === '}' && --depth === 0) return i;
  }
  return source.length;
}

/** Whether a policy path pattern covers `path`: `+` is one segment, a trailing `*` any suffix. */
export function patternMatches(pattern: string, path: string): boolean {
  const glob = pattern.endsWith('*');
  const fixed = glob ? pattern.slice(0, -1) : pattern;
  const patternParts = fixed.split('/');
  const pathParts = path.split('/');
  if (!glob && patternParts.length !== pathParts.length) return false;
  if (glob && pathParts.length < patternParts.length) return false;
  for (let i = 0; i < patternParts.length; i++) {
    const want = patternParts[i]!;
    const got = pathParts[i]!;
    const last = i === patternParts.length - 1;
    if (want === '+') {
      if (got === '' && !(glob && last)) return false;
      continue;
    }
    if (glob && last) return got.startsWith(want);
    if (want !== got) return false;
  }
  return true;
}

/**
 * Vault's priority matching: true when `a` loses to `b` (both match the same path). The rules,
 * in order: the first `+` or `*` earlier loses; ending in `*` loses; more `+` segments lose;
 * shorter loses; lexicographically smaller loses.
 */
export function lowerPriority(a: string, b: string): boolean {
  const firstWildcard = (p: string) => {
    const positions = [p.indexOf('+'), p.indexOf('*')].filter((i) => i >= 0);
    return positions.length === 0 ? Infinity : Math.min(...positions);
  };
  const wa = firstWildcard(a);
  const wb = firstWildcard(b);
  if (wa !== wb) return wa < wb;
  const ga = a.endsWith('*');
  const gb = b.endsWith('*');
  if (ga !== gb) return ga;
  const plus = (p: string) => p.split('/').filter((s) => s === '+').length;
  if (plus(a) !== plus(b)) return plus(a) > plus(b);
  if (a.length !== b.length) return a.length < b.length;
  return a < b;
}

/**
 * The rule that decides `path` for a set of rules (one policy, or several merged), with the
 * capabilities of every rule written for that same pattern merged, as the server merges them.
 */
export function decidingRule(rules: readonly PolicyRule[], path: string): PolicyRule | undefined {
  let best: string | undefined;
  for (const rule of rules)
    if (patternMatches(rule.path, path) && (best === undefined || lowerPriority(best, rule.path)))
      best = rule.path;
  if (best === undefined) return undefined;
  const caps = new Set(rules.filter((r) => r.path === best).flatMap((r) => r.capabilities));
  return { path: best, capabilities: caps.has('deny') ? ['deny'] : [...caps].sort() };
}

export function grantsCapability(rule: PolicyRule | undefined, capability: string): boolean {
  return rule !== undefined && rule.capabilities.includes(capability) && !rule.capabilities.includes('deny');
}

export function grantsRead(rule: PolicyRule | undefined): boolean {
  return grantsCapability(rule, 'read');
}

const MARKER = 'sealwatch secret-leak:';

/**
 * The policy with the leaked paths denied: one exact-path `deny` rule each. An exact path outranks
 * every pattern, and deny wins when the server merges identical patterns of a token's policies,
 * so the rule takes read away from every token holding this policy and nothing else.
 */
export function denyPaths(text: string, paths: readonly string[], reason: string): string {
  const missing = paths.filter(
    (p) => !policyRules(text).some((r) => r.path === p && r.capabilities.includes('deny')),
  );
  if (missing.length === 0) return text;
  const trimmed = text.trim();
  if (trimmed.startsWith('{')) {
    try {
      const doc = JSON.parse(trimmed) as { path?: Record<string, unknown> };
      doc.path = { ...(doc.path ?? {}) };
      for (const p of missing) doc.path[p] = { capabilities: ['deny'] };
      return `${JSON.stringify(doc, null, 2)}\n`;
    } catch {
      // HCL that starts with a brace-less block: append as HCL below.
    }
  }
  const blocks = missing.map((p) => `path ${JSON.stringify(p)} {\n  capabilities = ["deny"]\n}\n`).join('');
  return `${text.replace(/\s*$/, '')}\n\n# ${MARKER} ${reason}\n${blocks}`;
}

/** A unified diff of a policy change, for the plan and the evidence. */
export function policyDiff(name: string, before: string, after: string): string {
  return createPatch(`sys/policies/acl/${name}`, before, after, 'current', 'tightened');
}
