import { describe, expect, it } from 'vitest';
import { ruleReachesMount } from './engine-mounts.js';

describe('ruleReachesMount', () => {
  it.each([
    ['kv/*', 'kv/', true],
    ['kv/data/app', 'kv/', true],
    ['kv/', 'kv/', true],
    ['kv', 'kv/', false],
    ['*', 'kv/', true],
    ['k*', 'kv/', true],
    ['kx*', 'kv/', false],
    ['kv-other/*', 'kv/', false],
    ['+/data/x', 'kv/', true],
    ['team/*', 'team/kv/', true],
    ['te*', 'team/kv/', true],
    ['team/kv/data/+/x', 'team/kv/', true],
    ['team/other/*', 'team/kv/', false],
    ['team', 'team/kv/', false],
    ['sys/*', 'kv/', false],
    ['kv-{{identity.entity.id}}/*', 'kv/', false],
    ['{{identity.entity.name}}/*', 'kv/', true],
  ])('%s reaches %s: %s', (path, mount, expected) => {
    expect(ruleReachesMount({ path }, mount)).toBe(expected);
  });
});
