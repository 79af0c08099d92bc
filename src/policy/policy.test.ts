import { describe, expect, it } from 'vitest';
import { parsePolicy, PolicyParseError } from './policy.js';

describe('parsePolicy', () => {
  it('reads path blocks with every attribute the server keeps, templates unfilled', async () => {
    const policy = await parsePolicy(
      'app',
      `
# comment with "quotes" and { braces }
path "/secret/data/users/{{identity.entity.id}}/*" {
  capabilities = ["read", "list"] // trailing comment
  required_parameters = ["name"]
  allowed_parameters = { "name" = [], "*" = ["x"] }
  denied_parameters = { "Force" = [true] }
  min_wrapping_ttl = "1s"
  max_wrapping_ttl = 90
}
path "secret/data/tenants/+/smtp" { capabilities = ["read", "deny", "update"] }
path "secret/*" { policy = "read" }
path "secret/*" { capabilities = ["patch"] }
`,
    );
    expect(policy.rules).toEqual([
      {
        path: 'secret/data/users/{{identity.entity.id}}/*',
        kind: 'prefix',
        capabilities: ['read', 'list'],
        templated: true,
        requiredParameters: ['name'],
        allowedParameters: { name: [], '*': ['x'] },
        deniedParameters: { force: [true] },
        minWrappingTtl: '1s',
        maxWrappingTtl: 90,
      },
      { path: 'secret/*', kind: 'prefix', capabilities: ['read', 'list'], templated: false },
      { path: 'secret/*', kind: 'prefix', capabilities: ['patch'], templated: false },
      { path: 'secret/data/tenants/+/smtp', kind: 'segment', capabilities: ['deny'], templated: false },
    ]);
  });

  it('reads JSON policies and empty ones', async () => {
    const policy = await parsePolicy(
      'j',
      '{"path": {"kv/+/a*": {"capabilities": ["scan"]}, "x": [{"capabilities": ["read"]}]}}',
    );
    expect(policy.rules.map((r) => [r.path, r.kind, r.capabilities])).toEqual([
      ['kv/+/a*', 'segment', ['scan']],
      ['x', 'exact', ['read']],
    ]);
    expect((await parsePolicy('empty', '')).rules).toEqual([]);
  });

  it('names the policy and the position of an HCL syntax error', async () => {
    const error = await parsePolicy('ops', 'path "a" {\n  capabilities = ["read"]\n}\n}\n').catch(
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(PolicyParseError);
    expect(error).toMatchObject({ code: 'policy_invalid', position: { line: 4, column: 1 } });
    expect(String(error)).toContain('policy "ops" does not parse at line 4, column 1');
  });

  it('refuses what the server refuses: unknown capabilities and keys, +*, bad JSON', async () => {
    await expect(parsePolicy('p', 'path "a" { capabilities = ["reed"] }')).rejects.toThrow(
      'policy "p" does not parse: path "a": invalid capability "reed"',
    );
    await expect(parsePolicy('p', 'path "a" { capabilites = ["read"] }')).rejects.toThrow(
      /not an ACL policy/,
    );
    await expect(parsePolicy('p', 'path "a/+*" { capabilities = ["read"] }')).rejects.toThrow(
      /'\+\*' is forbidden/,
    );
    await expect(parsePolicy('p', '{"path": ')).rejects.toThrow(/policy "p" does not parse: invalid JSON/);
  });
});
