import { describe, expect, it } from 'vitest';
import { allows, buildAcl, decide } from './acl.js';
import type { AclPolicy, PathRule } from './policy.js';
import { ruleKind } from './policy.js';

const rule = (path: string, ...capabilities: PathRule['capabilities']): PathRule => ({
  path,
  kind: ruleKind(path),
  capabilities,
  templated: path.includes('{{'),
});
const policy = (name: string, ...rules: PathRule[]): AclPolicy => ({ name, rules });

describe('decide (the server priority rules)', () => {
  it('prefers an exact path to any pattern, and a longer prefix to a shorter one', () => {
    const acl = buildAcl([
      policy('p', rule('secret/*', 'read'), rule('secret/data/*', 'list'), rule('secret/data/a', 'update')),
    ]);
    expect(decide(acl, 'secret/data/a')).toMatchObject({ capabilities: ['update'], rule: 'secret/data/a' });
    expect(decide(acl, 'secret/data/b')).toMatchObject({ capabilities: ['list'], rule: 'secret/data/*' });
    expect(decide(acl, 'secret/x').capabilities).toEqual(['read']);
    expect(decide(acl, 'other').capabilities).toEqual(['deny']);
  });

  it('orders + rules: later first wildcard, then not a prefix, then fewer +, then longer', () => {
    const ordered = buildAcl([
      policy(
        'p',
        rule('secret/+/tenants/a', 'read'),
        rule('secret/data/+/a', 'update'),
        rule('secret/data/ten*', 'create'),
      ),
    ]);
    // The prefix's glob sits at 15, after the + at 12: the prefix wins.
    expect(decide(ordered, 'secret/data/tenants/a').capabilities).toEqual(['create']);
    const notPrefix = buildAcl([policy('p', rule('a/+/c', 'read'), rule('a/+/c*', 'update'))]);
    expect(decide(notPrefix, 'a/b/c').capabilities).toEqual(['read']);
    const fewer = buildAcl([policy('p', rule('a/+/+/d', 'read'), rule('a/+/c/d', 'update'))]);
    expect(decide(fewer, 'a/b/c/d').capabilities).toEqual(['update']);
    const longer = buildAcl([policy('p', rule('a/+/c/de*', 'read'), rule('a/+/c/d*', 'update'))]);
    expect(decide(longer, 'a/b/c/def').capabilities).toEqual(['read']);
  });

  it('merges rules of the same path across policies, deny leaving only deny', () => {
    const merged = buildAcl([policy('a', rule('s/x', 'read')), policy('b', rule('s/x', 'update'))]);
    expect(decide(merged, 's/x')).toEqual({
      capabilities: ['read', 'update'],
      rule: 's/x',
      policies: ['a', 'b'],
    });
    const denied = buildAcl([policy('a', rule('s/*', 'read')), policy('b', rule('s/*', 'deny'))]);
    expect(decide(denied, 's/x').capabilities).toEqual(['deny']);
    // A more specific rule of another policy decides alone: the broader deny does not reach it.
    const specific = buildAcl([policy('a', rule('s/x', 'read')), policy('b', rule('s/*', 'deny'))]);
    expect(allows(specific, 's/x', 'read')).toBe(true);
  });

  it('lets + match an empty segment and a list path fall back to the rule without its slash', () => {
    const acl = buildAcl([policy('p', rule('s/+/x', 'read'), rule('m/dir', 'list'))]);
    expect(decide(acl, 's//x').capabilities).toEqual(['read']);
    expect(decide(acl, 'm/dir/').capabilities).toEqual(['list']);
  });

  it('drops templated rules without an entity and fills them with one', () => {
    const policies = [
      policy(
        'p',
        rule('u/{{identity.entity.id}}/*', 'read'),
        rule('t/{{identity.entity.metadata.tenant}}', 'update'),
      ),
    ];
    expect(decide(buildAcl(policies), 'u/e1/a').capabilities).toEqual(['deny']);
    const acl = buildAcl(policies, { entityId: 'e1', entityMetadata: { tenant: 'acme' } });
    expect(decide(acl, 'u/e1/a').capabilities).toEqual(['read']);
    expect(decide(acl, 'u/e2/a').capabilities).toEqual(['deny']);
    expect(decide(acl, 't/acme').capabilities).toEqual(['update']);
  });

  it('gives root everything', () => {
    expect(decide(buildAcl([policy('root')]), 'anything').capabilities).toEqual(['root']);
  });
});
