import { describe, expect, it } from 'vitest';
import { mustParsePathTemplate, parsePathTemplate, PathTemplateMatcher } from './path-template.js';

const matcher = (...sources: string[]) => new PathTemplateMatcher(sources.map(mustParsePathTemplate));

describe('path templates', () => {
  it('rejects templates without exactly one {tenant}', () => {
    expect(parsePathTemplate('secret/tenants/smtp').problem).toMatch(/must contain \{tenant\}/);
    expect(parsePathTemplate('secret/{tenant}/{tenant}').problem).toMatch(/exactly once/);
    expect(parsePathTemplate('{tenant}/x').problem).toMatch(/mount path/);
    expect(parsePathTemplate('secret/{ten ant}').problem).toMatch(/malformed placeholder/);
    expect(parsePathTemplate('secret//{tenant}').problem).toMatch(/empty segment/);
  });

  it('matches the CLI form and the KV v2 API forms', () => {
    const m = matcher('secret/tenants/{tenant}/smtp');
    expect(m.match('secret/tenants/acme/smtp')).toMatchObject({ tenant: 'acme', complete: true });
    expect(m.match('secret/data/tenants/acme/smtp')).toMatchObject({ tenant: 'acme', infix: 'data' });
    expect(m.match('/v1/secret/metadata/tenants/acme/smtp')).toMatchObject({ infix: 'metadata' });
    expect(m.match('secret/data/tenants/acme/ssh')).toBeUndefined();
    expect(m.match('other/data/tenants/acme/smtp')).toBeUndefined();
  });

  it('handles mounts that span several segments', () => {
    const m = matcher('kv/customers/{tenant}/mail');
    expect(m.match('kv/customers/data/t1/mail')).toMatchObject({ tenant: 't1', infix: 'data' });
    expect(m.match('kv/data/customers/t1/mail')).toMatchObject({ tenant: 't1', infix: 'data' });
  });

  it('captures every placeholder and reports listings as incomplete', () => {
    const m = matcher('secret/api_keys/{tenant}/{key_id}');
    expect(m.match('secret/data/api_keys/t9/k1')).toMatchObject({
      tenant: 't9',
      vars: { tenant: 't9', key_id: 'k1' },
      complete: true,
    });
    expect(m.match('secret/metadata/api_keys/t9')).toMatchObject({ tenant: 't9', complete: false });
    expect(m.match('secret/metadata/api_keys')).toBeUndefined();
    expect(m.match('secret/data/api_keys/t9/k1/extra')).toBeUndefined();
  });

  it('never splits a path at a fixed position', () => {
    // The published procedure took path.split('/')[1]; here the tenant is the 4th segment.
    const m = matcher('secret/platform/tenants/{tenant}/dkim');
    expect(m.match('secret/data/platform/tenants/zeta/dkim')?.tenant).toBe('zeta');
  });
});
