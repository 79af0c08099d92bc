import { createPatch } from 'diff';
import { z } from 'zod';
import { buildAcl, decide } from '../../policy/acl.js';
import { parsePolicy, type AclPolicy } from '../../policy/policy.js';

/**
 * The rule that let a token read a path, and the deny that takes it away. Policies are read by the
 * policy domain part (src/policy: HashiCorp's HCL parser, the server's priority matching), the same
 * reading posture uses.
 */
export interface PolicyRule {
  /** The deciding rule's path as written: `secret/data/tenants/+/smtp`, `secret/*`. */
  path: string;
  /** Its effective capabilities (every rule of that path in the policy merged); `['deny']` when it denies. */
  capabilities: string[];
}

/** The rule that decides `path` for the policy, undefined when none matches. */
export function decidingRule(policy: AclPolicy, path: string): PolicyRule | undefined {
  const decision = decide(buildAcl([policy]), path);
  return decision.rule === undefined
    ? undefined
    : { path: decision.rule, capabilities: decision.capabilities };
}

export function grantsCapability(rule: PolicyRule | undefined, capability: string): boolean {
  return rule !== undefined && rule.capabilities.includes(capability) && !rule.capabilities.includes('deny');
}

export function grantsRead(rule: PolicyRule | undefined): boolean {
  return grantsCapability(rule, 'read');
}

const jsonPolicy = z.looseObject({ path: z.record(z.string(), z.unknown()).optional() });

const MARKER = 'sealwatch secret-leak:';

/**
 * The policy with the leaked paths denied: one exact-path `deny` rule each. An exact path outranks
 * every pattern, and deny wins when the server merges identical paths of a token's policies, so the
 * rule takes read away from every token holding this policy and nothing else. A text that does not
 * parse is a PolicyParseError (nothing is written over a policy sealwatch cannot read).
 */
export async function denyPaths(
  name: string,
  text: string,
  paths: readonly string[],
  reason: string,
): Promise<string> {
  const { rules } = await parsePolicy(name, text);
  const missing = paths.filter((p) => !rules.some((r) => r.path === p && r.capabilities.includes('deny')));
  if (missing.length === 0) return text;
  if (text.trim().startsWith('{')) {
    // parsePolicy read it as JSON, so it is an object whose `path`, if any, is an object.
    const doc = jsonPolicy.parse(JSON.parse(text));
    doc.path = { ...(doc.path ?? {}) };
    for (const p of missing) doc.path[p] = { capabilities: ['deny'] };
    return `${JSON.stringify(doc, null, 2)}\n`;
  }
  const blocks = missing.map((p) => `path ${JSON.stringify(p)} {\n  capabilities = ["deny"]\n}\n`).join('');
  return `${text.replace(/\s*$/, '')}\n\n# ${MARKER} ${reason}\n${blocks}`;
}

/** A unified diff of a policy change, for the plan and the evidence. */
export function policyDiff(name: string, before: string, after: string): string {
  return createPatch(`sys/policies/acl/${name}`, before, after, 'current', 'tightened');
}
