import { describe, expect, it } from 'vitest';
import { mustParsePathTemplate } from '../config/path-template.js';
import { buildAcl, decide } from './acl.js';
import { accessMatrix, roleTenant, tenantPaths, tenantReach, tenantsNamedIn } from './access-matrix.js';
import { parsePolicy } from './policy.js';

const smtp = {
  template: mustParsePathTemplate('secret/tenants/{tenant}/smtp'),
  mount: 'secret',
  kvVersion: 2 as const,
};
const keys = {
  template: mustParsePathTemplate('kv1/keys/{tenant}/{key_id}'),
  mount: 'kv1',
  kvVersion: 1 as const,
};

describe('access matrix', () => {
  it('builds API paths from templates: data/ after a KV v2 mount, other placeholders kept', () => {
    expect(tenantPaths('acme', [smtp, keys])).toEqual([
      'secret/data/tenants/acme/smtp',
      'kv1/keys/acme/{key_id}',
    ]);
  });

  it('decides read and write per tenant, deny and priority included, and flags cross-tenant roles', async () => {
    const policies = [
      await parsePolicy(
        'acme-app',
        `path "secret/data/tenants/acme/*" { capabilities = ["read", "update"] }
         path "secret/data/tenants/globex/smtp" { capabilities = ["read"] }`,
      ),
      await parsePolicy(
        'support',
        `path "secret/data/tenants/+/smtp" { capabilities = ["read"] }
         path "secret/data/tenants/initech/smtp" { capabilities = ["deny"] }
         path "kv1/keys/+/+" { capabilities = ["create"] }
         path "secret/data/users/{{identity.entity.id}}" { capabilities = ["read"] }`,
      ),
      await parsePolicy('one-key', 'path "kv1/keys/acme/k1" { capabilities = ["update"] }'),
    ];
    const matrix = accessMatrix({
      policies,
      roles: new Map([
        ['acme-app', [{ mount: 'approle', role: 'acme-app', tenant: 'acme' }]],
        ['support', [{ mount: 'userpass', role: 'sam' }]],
      ]),
      tenants: ['acme', 'globex', 'initech'],
      pathsOf: (t) => tenantPaths(t, [smtp, keys]),
      couldNotRead: [
        { what: 'role x', capability: 'read', path: 'auth/approle/role/x', reason: 'permission denied' },
      ],
    });
    expect(matrix.policies).toEqual([
      {
        policy: 'acme-app',
        roles: [{ mount: 'approle', role: 'acme-app', tenant: 'acme' }],
        tenants: { read: ['acme', 'globex'], write: ['acme'] },
        cross_tenant: true,
        templated_rules: [],
      },
      // One key of one tenant is not the tenant's secrets: only rules covering every {key_id} count.
      {
        policy: 'one-key',
        roles: [],
        tenants: { read: [], write: [] },
        cross_tenant: false,
        templated_rules: [],
      },
      {
        policy: 'support',
        roles: [{ mount: 'userpass', role: 'sam' }],
        tenants: { read: ['acme', 'globex'], write: ['acme', 'globex', 'initech'] },
        cross_tenant: true,
        templated_rules: ['secret/data/users/{{identity.entity.id}}'],
      },
    ]);
    expect(matrix.by_tenant['initech']).toEqual({
      readers: [],
      writers: [{ policy: 'support', roles: [{ mount: 'userpass', role: 'sam' }] }],
    });
    expect(matrix.could_not_read).toHaveLength(1);
  });

  it('decides tenants that no rule tells apart once, with the same answer as one by one', async () => {
    const policy = await parsePolicy(
      'tricky',
      `path "secret/data/tenants/ac*" { capabilities = ["read"] }
       path "secret/data/tenants/acme/smtp" { capabilities = ["deny"] }
       path "secret/data/tenants/+/dkim" { capabilities = ["update"] }
       path "secret/data/tenants/g/+" { capabilities = ["patch"] }
       path "secret/data/*" { capabilities = ["list"] }
       path "secret/+/tenants/zeta/smtp" { capabilities = ["read"] }
       path "kv1/keys/b*" { capabilities = ["create"] }`,
    );
    const tenants = ['acme', 'acm', 'acmex', 'a', 'globex', 'g', 'zeta', 'bob', 'other', 'dkim', 'tenants'];
    const pathsOf = (t: string) =>
      tenantPaths(t, [
        smtp,
        keys,
        { ...smtp, template: mustParsePathTemplate('secret/tenants/{tenant}/dkim') },
      ]);
    const { policies } = accessMatrix({ policies: [policy], roles: new Map(), tenants, pathsOf });
    const acl = buildAcl([policy]);
    const oneByOne = (caps: string[]) =>
      tenants.filter((t) =>
        pathsOf(t).some((p) => caps.some((c) => decide(acl, p).capabilities.includes(c))),
      );
    expect(policies[0]!.tenants).toEqual({
      read: oneByOne(['read']),
      write: oneByOne(['create', 'update', 'patch']),
    });
    // zeta's + rule loses to secret/data/* (its + comes first): the server's order, not the rule count.
    expect(policies[0]!.tenants.read).toEqual(['acme', 'acm', 'acmex']);
  });

  it('reaches tenants for merged policies and an entity, templated tenant segments filled', async () => {
    const own = await parsePolicy(
      'own',
      'path "secret/data/tenants/{{identity.entity.metadata.tenant}}/*" { capabilities = ["read"] }',
    );
    const deny = await parsePolicy('deny', 'path "secret/data/tenants/globex/*" { capabilities = ["deny"] }');
    const wide = await parsePolicy('wide', 'path "secret/data/tenants/+/smtp" { capabilities = ["read"] }');
    const tenants = ['acme', 'globex', 'initech'];
    const pathsOf = (t: string) => tenantPaths(t, [smtp]);
    expect(tenantReach([own], tenants, pathsOf)).toEqual({ read: [], write: [] });
    expect(tenantReach([own], tenants, pathsOf, { entityMetadata: { tenant: 'acme' } }).read).toEqual([
      'acme',
    ]);
    // Merged as for one token: globex's deny prefix outranks the + rule of the other policy.
    expect(tenantReach([wide, deny], tenants, pathsOf).read).toEqual(['acme', 'initech']);
  });

  it('names the tenants policies mention at the {tenant} position, never a wildcard', async () => {
    const policy = await parsePolicy(
      'p',
      `path "secret/data/tenants/acme/*" { capabilities = ["read"] }
       path "secret/tenants/globex/smtp" { capabilities = ["read"] }
       path "secret/data/tenants/+/smtp" { capabilities = ["read"] }
       path "secret/data/tenants/ini*" { capabilities = ["read"] }`,
    );
    expect(tenantsNamedIn([policy], [smtp.template])).toEqual(['acme', 'globex']);
  });

  it('reads a role tenant by the configured template', () => {
    expect(roleTenant('acme-app', '{tenant}-app')).toBe('acme');
    expect(roleTenant('app-acme', 'app-{tenant}')).toBe('acme');
    expect(roleTenant('-app', '{tenant}-app')).toBeUndefined();
    expect(roleTenant('mailer', '{tenant}-app')).toBeUndefined();
    expect(roleTenant('acme-app', undefined)).toBeUndefined();
  });
});
