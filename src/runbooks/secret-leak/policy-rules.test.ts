import { describe, expect, it } from 'vitest';
import { parsePolicy, PolicyParseError } from '../../policy/policy.js';
import { decidingRule, denyPaths, grantsCapability, grantsRead, policyDiff } from './policy-rules.js';

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
path "secret/data/tenants/+/smtp" { capabilities = ["list"] }
`;

describe('policy rules of the secret-leak runbook', () => {
  it('names the deciding rule with its merged capabilities', async () => {
    const operator = await parsePolicy('operator', OPERATOR);
    expect(decidingRule(operator, 'secret/data/tenants/a/smtp')).toEqual({
      path: 'secret/data/tenants/+/smtp',
      capabilities: ['list'],
    });
    expect(grantsRead(decidingRule(operator, 'secret/data/tenants/a/smtp'))).toBe(false);
    expect(grantsRead(decidingRule(operator, 'secret/data/other'))).toBe(true);
    expect(decidingRule(operator, 'sys/policy')).toBeUndefined();
    const denied = await parsePolicy('d', `${OPERATOR}\npath "secret/*" { capabilities = ["deny"] }`);
    expect(decidingRule(denied, 'secret/data/other')?.capabilities).toEqual(['deny']);
  });

  it('denies exactly the leaked path, once, and shows the change as a diff', async () => {
    const path = 'secret/data/tenants/a/smtp';
    const tightened = await denyPaths('operator', OPERATOR, [path], 'inc-1');
    expect(tightened.startsWith(OPERATOR.trimEnd())).toBe(true);
    const after = await parsePolicy('operator', tightened);
    expect(grantsCapability(decidingRule(after, path), 'list')).toBe(false);
    expect(grantsCapability(decidingRule(after, 'secret/data/tenants/b/smtp'), 'list')).toBe(true);
    expect(await denyPaths('operator', tightened, [path], 'inc-2')).toBe(tightened);
    const diff = policyDiff('operator', OPERATOR, tightened);
    expect(diff).toContain(`+path "${path}" {`);
    expect(diff).toContain('+  capabilities = ["deny"]');
    // A rule already written for exactly that path (pki/issue/web: update) is merged with the deny.
    const issuer = await denyPaths(
      'pki',
      'path "pki/issue/web" { capabilities = ["update"] }',
      ['pki/issue/web'],
      'x',
    );
    expect(grantsCapability(decidingRule(await parsePolicy('pki', issuer), 'pki/issue/web'), 'update')).toBe(
      false,
    );
    const json = await denyPaths('j', '{"path": {"secret/*": {"capabilities": ["read"]}}}', [path], 'x');
    expect(decidingRule(await parsePolicy('j', json), path)?.capabilities).toEqual(['deny']);
  });

  it('writes nothing over a policy it cannot parse', async () => {
    await expect(denyPaths('broken', 'path "a" {', ['a'], 'x')).rejects.toBeInstanceOf(PolicyParseError);
  });
});
