import { describe, expect, it } from 'vitest';
import { countLeases, mountOfPrefix } from './leases.js';

/** A lease tree as sys/leases/lookup lists it. */
function fakeVault(tree: Record<string, string[]>) {
  const calls: string[] = [];
  return {
    calls,
    leaseList: async (prefix: string) => {
      calls.push(prefix);
      return tree[prefix] ?? [];
    },
  };
}

describe('countLeases', () => {
  const tree = {
    '': ['auth/', 'database/'],
    'auth/': ['token/', 'approle/'],
    'auth/token/': ['create/'],
    'auth/token/create/': ['h1', 'h2', 'h3'],
    'auth/approle/': ['login/'],
    'auth/approle/login/': ['h4'],
    'database/': ['creds/'],
    'database/creds/': ['app/'],
    'database/creds/app/': ['x1', 'x2'],
  };

  it('counts every lease by the prefix that holds it, most first', async () => {
    const count = await countLeases(fakeVault(tree), '');
    expect(count.total).toBe(6);
    expect(count.complete).toBe(true);
    expect(count.byPrefix.map(({ prefix, leases }) => ({ prefix, leases }))).toEqual([
      { prefix: 'auth/token/create/', leases: 3 },
      { prefix: 'database/creds/app/', leases: 2 },
      { prefix: 'auth/approle/login/', leases: 1 },
    ]);
    expect(count.byPrefix[0]!.sample).toEqual(['auth/token/create/h1', 'auth/token/create/h2']);
  });

  it('walks only under the prefix given, with or without slashes', async () => {
    const vault = fakeVault(tree);
    expect((await countLeases(vault, '/auth/token')).total).toBe(3);
    expect(vault.calls[0]).toBe('auth/token/');
  });

  it('stops at the bound and says the count is a lower bound', async () => {
    const count = await countLeases(fakeVault(tree), '', { maxLists: 3 });
    expect(count.complete).toBe(false);
    expect(count.lists).toBe(3);
  });
});

describe('mountOfPrefix', () => {
  it('takes the longest mount path', () => {
    expect(mountOfPrefix('auth/token/create/', ['auth/token/', 'auth/', 'secret/'])).toBe('auth/token/');
    expect(mountOfPrefix('kv/x/', ['secret/'])).toBeUndefined();
  });
});
