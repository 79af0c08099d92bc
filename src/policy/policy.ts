import { z } from 'zod';
import { errorMessage, SealwatchError } from '../errors.js';
import { fastDecodePolicy } from './policy-fast-hcl.js';

/**
 * ACL policies as the server reads them. HCL goes through `@cdktf/hcl2json` (HashiCorp's own HCL
 * implementation compiled to WebAssembly), JSON through JSON.parse; what they yield is checked with
 * zod against the keys the server accepts in a `path` block. Templated segments
 * (`{{identity.entity.id}}`) are kept as written: they are filled per entity when a token is checked.
 */

/** What a `path` block may grant. OpenBao knows these; `subscribe` and `recover` are HashiCorp Vault's. */
export const CAPABILITIES = [
  'create',
  'read',
  'update',
  'patch',
  'delete',
  'list',
  'scan',
  'sudo',
  'deny',
  'subscribe',
  'recover',
] as const;
export type Capability = (typeof CAPABILITIES)[number];

/** How the server files a rule: exact path, a trailing-`*` prefix, or a path with `+` segments. */
export type RuleKind = 'exact' | 'prefix' | 'segment';

export interface PathRule {
  /** The path as written, without a leading `/` (the server strips it). */
  path: string;
  kind: RuleKind;
  /** Granted capabilities; `['deny']` alone when the block denies (the server drops the rest). */
  capabilities: Capability[];
  /** True when the path holds an identity template (`{{identity.entity.id}}`), kept unfilled. */
  templated: boolean;
  requiredParameters?: string[];
  allowedParameters?: Record<string, unknown[]>;
  deniedParameters?: Record<string, unknown[]>;
  minWrappingTtl?: string | number;
  maxWrappingTtl?: string | number;
}

export interface AclPolicy {
  name: string;
  /**
   * One entry per `path` block (a path may appear more than once): ordered by path as written, the
   * blocks of one path in the order written. Order does not change what the server grants.
   */
  rules: PathRule[];
}

/** A policy text that is not a valid ACL policy; names the policy and, where the parser gives it, the position. */
export class PolicyParseError extends SealwatchError {
  constructor(
    readonly policy: string,
    message: string,
    readonly position?: { line: number; column: number },
    options: { cause?: unknown } = {},
  ) {
    const where = position ? ` at line ${position.line}, column ${position.column}` : '';
    super('policy_invalid', `policy "${policy}" does not parse${where}: ${message}`, {
      ...options,
      details: { policy, ...(position ? { line: position.line, column: position.column } : {}) },
    });
  }
}

const parameters = z.record(z.string(), z.array(z.unknown()));
/** A block written `allowed_parameters { … }` comes out of HCL as a list of objects. */
const parameterBlock = z.union([parameters, z.array(parameters)]);
const ttl = z.union([z.string(), z.number()]);

/** The keys OpenBao accepts in a path block; anything else is an error there, so it is one here. */
const pathBody = z.strictObject({
  comment: z.string().optional(),
  policy: z.enum(['deny', 'read', 'write', 'sudo']).optional(),
  capabilities: z.array(z.string()).optional(),
  allowed_parameters: parameterBlock.optional(),
  denied_parameters: parameterBlock.optional(),
  required_parameters: z.array(z.string()).optional(),
  min_wrapping_ttl: ttl.optional(),
  max_wrapping_ttl: ttl.optional(),
  mfa_methods: z.array(z.string()).optional(),
  pagination_limit: z.number().optional(),
  expiration: z.string().optional(),
  list_scan_response_keys_filter_path: z.string().optional(),
  control_group: z.unknown().optional(),
});
type PathBody = z.infer<typeof pathBody>;

const document = z.looseObject({
  path: z.record(z.string(), z.union([pathBody, z.array(pathBody)])).optional(),
});

/** The capabilities the old `policy = "…"` shorthand stands for (as the server maps them). */
const LEGACY: Record<NonNullable<PathBody['policy']>, Capability[]> = {
  deny: ['deny'],
  read: ['read', 'list'],
  write: ['create', 'read', 'update', 'delete', 'list'],
  sudo: ['create', 'read', 'update', 'delete', 'list', 'sudo'],
};

const TEMPLATE = /\{\{[^{}]*\}\}/;

/** Parses one policy text (HCL or JSON); a text that is not a valid policy is a PolicyParseError. */
export async function parsePolicy(name: string, text: string): Promise<AclPolicy> {
  const decoded = await decode(name, text);
  const checked = document.safeParse(decoded);
  if (!checked.success)
    throw new PolicyParseError(name, `not an ACL policy: ${z.prettifyError(checked.error)}`);
  const rules: PathRule[] = [];
  for (const [written, bodies] of Object.entries(checked.data.path ?? {}))
    for (const body of Array.isArray(bodies) ? bodies : [bodies]) rules.push(pathRule(name, written, body));
  return { name, rules };
}

async function decode(name: string, text: string): Promise<unknown> {
  if (text.trim().startsWith('{')) {
    try {
      return JSON.parse(text) as unknown;
    } catch (error) {
      // Node's JSON.parse names no line or column; the message is what there is.
      throw new PolicyParseError(name, `invalid JSON (${errorMessage(error)})`, undefined, {
        cause: error,
      });
    }
  }
  // The common shape (path blocks granting capabilities) is read without the WebAssembly.
  const fast = fastDecodePolicy(text);
  if (fast) return fast;
  try {
    // Loaded on first use: the module reads and starts its WebAssembly (~70 ms, ~8 ms a policy after
    // the first), which commands that read no policy should not pay for.
    const { parse } = await import('@cdktf/hcl2json');
    return await parse(`${name}.hcl`, text);
  } catch (error) {
    throw hclError(name, error);
  }
}

/** hcl2json rejects with `parse config: [<file>:<line>,<column>-<column>: <summary>; <detail>]`. */
function hclError(name: string, error: unknown): PolicyParseError {
  const message = error instanceof Error ? error.message : String(error);
  const located = /:(\d+),(\d+)(?:-\d+(?:,\d+)?)?: (.*?)\]?$/s.exec(message);
  if (!located) return new PolicyParseError(name, message, undefined, { cause: error });
  return new PolicyParseError(
    name,
    located[3]!,
    { line: Number(located[1]), column: Number(located[2]) },
    { cause: error },
  );
}

function pathRule(policy: string, written: string, body: PathBody): PathRule {
  const path = written.startsWith('/') ? written.slice(1) : written;
  if (path.includes('+*'))
    throw new PolicyParseError(policy, `path "${written}": invalid use of wildcards ('+*' is forbidden)`);
  const wanted = [...(body.capabilities ?? []), ...(body.policy ? LEGACY[body.policy] : [])];
  const capabilities: Capability[] = [];
  for (const capability of wanted) {
    if (!isCapability(capability))
      throw new PolicyParseError(policy, `path "${written}": invalid capability "${capability}"`);
    if (!capabilities.includes(capability)) capabilities.push(capability);
  }
  const rule: PathRule = {
    path,
    kind: ruleKind(path),
    capabilities: capabilities.includes('deny') ? ['deny'] : capabilities,
    templated: TEMPLATE.test(path),
  };
  if (body.required_parameters) rule.requiredParameters = body.required_parameters;
  if (body.allowed_parameters) rule.allowedParameters = mergeBlocks(body.allowed_parameters);
  if (body.denied_parameters) rule.deniedParameters = mergeBlocks(body.denied_parameters);
  if (body.min_wrapping_ttl !== undefined) rule.minWrappingTtl = body.min_wrapping_ttl;
  if (body.max_wrapping_ttl !== undefined) rule.maxWrappingTtl = body.max_wrapping_ttl;
  return rule;
}

/** The server's classification: any `+` segment makes a segment rule, else a trailing `*` a prefix. */
export function ruleKind(path: string): RuleKind {
  if (path === '+' || path.includes('/+') || path.startsWith('+/')) return 'segment';
  return path.endsWith('*') ? 'prefix' : 'exact';
}

function isCapability(value: string): value is Capability {
  return (CAPABILITIES as readonly string[]).includes(value);
}

function mergeBlocks(value: z.infer<typeof parameterBlock>): Record<string, unknown[]> {
  const blocks = Array.isArray(value) ? value : [value];
  const merged: Record<string, unknown[]> = {};
  for (const block of blocks)
    for (const [key, values] of Object.entries(block)) merged[key.toLowerCase()] = values;
  return merged;
}
