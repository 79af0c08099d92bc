import { describe, expect, it } from 'vitest';
import type { PostureFinding } from '../check.js';
import { POSTURE_CHECK_IDS } from '../checks/index.js';
import { fixerFor, POSTURE_FIXERS } from './index.js';

const finding = (id: string, evidence: Record<string, unknown> = {}): PostureFinding => ({
  id,
  check: id.slice(0, id.indexOf(':')),
  area: 'tokens',
  severity: 'high',
  title: id,
  evidence,
  why: '',
  fix: '',
});

describe('the posture fix registry', () => {
  it('is keyed by check ids the posture registry knows', () => {
    for (const check of Object.keys(POSTURE_FIXERS)) expect(POSTURE_CHECK_IDS).toContain(check);
  });

  it('picks one fixer per kind of finding, and none for what is not automated', () => {
    const cases: [string, Record<string, unknown>, string | undefined][] = [
      ['root-tokens:accessor:abc', {}, 'revoke-root-token'],
      ['token-ttl:mount:approle/:max_lease_ttl', {}, 'tune-auth-mount-ttl'],
      ['token-ttl:mount:approle/:default_lease_ttl', {}, 'tune-auth-mount-ttl'],
      ['token-ttl:system:max_lease_ttl', {}, undefined],
      ['token-ttl:no-expiry:abc', {}, undefined],
      ['auth-unused:approle-limits:approle/x', {}, 'set-approle-role-ttls'],
      ['auth-unused:mount:userpass/', {}, 'disable-auth-mount'],
      ['auth-unused:no-audit-events', {}, undefined],
      ['auth-unused:could-not-read:sys/auth', {}, undefined],
      ['policy-cross-tenant:p:approle/acme-app', { role_tenant: 'acme' }, 'deny-other-tenants-in-policy'],
      // A policy no tenant role carries: whether it is a platform service's is the operator's call.
      ['policy-cross-tenant:p', {}, undefined],
      ['audit-devices:single', {}, undefined],
      ['engines-unused:kv/', { mount: 'kv/', type: 'kv' }, 'disable-secret-engine'],
      ['engines-unused:team/kv/', { mount: 'team/kv/', type: 'kv' }, 'disable-secret-engine'],
      ['engines-unused:no-audit-events', {}, undefined],
      ['engines-unused:could-not-read:sys/mounts', {}, undefined],
    ];
    for (const [id, evidence, name] of cases) expect(fixerFor(finding(id, evidence))?.name, id).toBe(name);
  });
});
