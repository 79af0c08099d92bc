import { describe, expect, it } from 'vitest';
import {
  decidingRule,
  denyPaths,
  grantsCapability,
  grantsRead,
  patternMatches,
  policyDiff,
  policyRules,
} from './policy-rules.js';

const OPERATOR = `
# Human operators.
path "secret/*" { capabilities = ["create", "read", "update", "delete", "list"] }
path "sys/mounts" { capabilities = ["read"] }
path "secret/data/restricted/*" {
  capabilities = ["read"] # comment with "quotes" and { braces }
  allowed_parameters = {
    "x" = []
  }
}
`;

describe('policy rules', () => {
  it('reads the path blocks of HCL and JSON policies', () => {
    expect(policyRules(OPERATOR)).toEqual([
      { path: 'secret/*', capabilities: ['create', 'read', 'update', 'delete', 'list'] },
      { path: 'sys/mounts', capabilities: ['read'] },
      { path: 'secret/data/restricted/*', capabilities: ['read'] },
    ]);
    expect(policyRules('{"path": {"kv/+/a": {"capabilities": ["read"]}}}')).toEqual([
      { path: 'kv/+/a', capabilities: ['read'] },
    ]);
    expect(policyRules('')).toEqual([]);
  });

  it('matches patterns as the server does', () => {
    expect(patternMatches('secret/*', 'secret/data/tenants/a/smtp')).toBe(true);
    expect(patternMatches('secret/*', 'secret')).toBe(false);
    expect(patternMatches('secret/data/tenants/+/smtp', 'secret/data/tenants/a/smtp')).toBe(true);
    expect(patternMatches('secret/data/tenants/+/smtp', 'secret/data/tenants/a/b/smtp')).toBe(false);
    expect(patternMatches('secret/data/ten*', 'secret/data/tenants/a')).toBe(true);
    expect(patternMatches('secret/data/a', 'secret/data/a')).toBe(true);
    expect(patternMatches('secret/data/a', 'secret/data/ab')).toBe(false);
  });

  it('picks the most specific rule and merges identical patterns, deny winning', () => {
    const rules = [
      { path: 'secret/*', capabilities: ['read'] },
      { path: 'secret/data/tenants/+/smtp', capabilities: ['list'] },
    ];
    expect(decidingRule(rules, 'secret/data/tenants/a/smtp')?.path).toBe('secret/data/tenants/+/smtp');
    expect(grantsRead(decidingRule(rules, 'secret/data/tenants/a/smtp'))).toBe(false);
    expect(grantsRead(decidingRule(rules, 'secret/data/other'))).toBe(true);
    const merged = [...rules, { path: 'secret/*', capabilities: ['deny'] }];
    expect(decidingRule(merged, 'secret/data/other')?.capabilities).toEqual(['deny']);
    expect(decidingRule(rules, 'sys/mounts')).toBeUndefined();
  });

  it('denies exactly the leaked path, once, and shows the change as a diff', () => {
    const path = 'secret/data/tenants/a/smtp';
    const tightened = denyPaths(OPERATOR, [path], 'inc-1');
    expect(tightened.startsWith(OPERATOR.trimEnd())).toBe(true);
    expect(grantsRead(decidingRule(policyRules(tightened), path))).toBe(false);
    expect(grantsRead(decidingRule(policyRules(tightened), 'secret/data/tenants/b/smtp'))).toBe(true);
    expect(denyPaths(tightened, [path], 'inc-2')).toBe(tightened);
    const diff = policyDiff('operator', OPERATOR, tightened);
    expect(diff).toContain(`+path "${path}" {`);
    expect(diff).toContain('+  capabilities = ["deny"]');
    // A rule already written for exactly that path (pki/issue/web: update) is merged with the deny.
    const issuer = denyPaths('path "pki/issue/web" { capabilities = ["update"] }', ['pki/issue/web'], 'x');
    expect(grantsCapability(decidingRule(policyRules(issuer), 'pki/issue/web'), 'update')).toBe(false);
    const json = denyPaths('{"path": {"secret/*": {"capabilities": ["read"]}}}', [path], 'x');
    expect(decidingRule(policyRules(json), path)?.capabilities).toEqual(['deny']);
  });
});
