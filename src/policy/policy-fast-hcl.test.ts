import { parse } from '@cdktf/hcl2json';
import { describe, expect, it } from 'vitest';
import { fastDecodePolicy } from './policy-fast-hcl.js';

/** What hcl2json makes of a text, or 'error'. */
async function reference(text: string): Promise<unknown> {
  try {
    return await parse('p.hcl', text);
  } catch {
    // The reference rejected the text: the fast path must not accept it either.
    return 'error';
  }
}

const ACCEPTED = [
  '',
  '\n# only a comment\n',
  'path "secret/data/tenants/acme/*" { capabilities = ["read"] }',
  'path "a" {}\n',
  'path "a" {\n}\n',
  'path "b" { capabilities = ["read"] }\npath "a" {\n  capabilities = [\n    "x",\n    "y",\n  ]\n}\npath "b" { capabilities = [] }',
  'path "10" { capabilities = ["read"] }\npath "9" { capabilities = ["read"] }\npath "x" { capabilities = ["list"] }',
  '# c "q" { }\npath "/secret/*" { policy = "read" } // trailing\n\n\npath "+/x/+" { capabilities = ["deny"] } # c',
  'path "secret/data/users/{{identity.entity.id}}/*" {\n  capabilities = ["read", "list"] // why\n}\n',
  'path "a" {\n  capabilities = ["read"]\n}\npath "a" {\n  policy = "write"\n}\n',
  'path "a" { capabilities = [\n"read"\n] }',
  '\tpath "Z-z_0.9/+/a*" { capabilities = [ "read" , "update" ] }\r\n',
  // From the posture bench (bench/posture.ts policyText).
  [
    'path "secret/data/tenants/tenant-0001/*" { capabilities = ["read"] }',
    'path "bench-kv-0/data/app-0/*" { capabilities = ["read", "list"] }',
    'path "secret/data/tenants/+/smtp" { capabilities = ["read"] }',
    'path "secret/data/api_keys/tenant-00*" { capabilities = ["read", "update"] }',
    'path "secret/data/tenants/tenant-0001/dkim" { capabilities = ["deny"] }',
  ].join('\n'),
];

/** Texts outside the subset (some valid HCL, some not): the fast path declines, hcl2json decides. */
const DECLINED = [
  'path "a" { capabilities = ["read"]\n}',
  'path "a" { capabilities = ["read"] } path "b" {}',
  'path "a" {\n  capabilities = ["read"]\n  required_parameters = ["x"]\n}',
  'path "a" {\n  capabilities = ["read"]\n  capabilities = ["list"]\n}',
  'path "a\\"b" { capabilities = ["read"] }',
  'path "${x}" { capabilities = ["read"] }',
  'path "é" { capabilities = ["read"] }',
  '/* block */ path "a" { capabilities = ["read"] }',
  'path "a" { capabilities = "read" }',
  'path "a" { capabilities = [read] }',
  'path "a" { allowed_parameters = { "x" = [] } }',
  'key "a" { capabilities = ["read"] }',
  'path "a" { capabilities = ["read",, "x"] }',
  'path "a" { capabilities = ["read"]',
  'path "a" "b" { capabilities = ["read"] }',
  'path = "a"',
  '{"path": {"a": {"capabilities": ["read"]}}}',
];

describe('fastDecodePolicy', () => {
  it.each(ACCEPTED)('decodes exactly as hcl2json does: %j', async (text) => {
    const fast = fastDecodePolicy(text);
    expect(fast).toBeDefined();
    expect(JSON.stringify(fast)).toBe(JSON.stringify(await reference(text)));
  });

  it.each(DECLINED)('declines what is outside its subset: %j', (text) => {
    expect(fastDecodePolicy(text)).toBeUndefined();
  });
});
