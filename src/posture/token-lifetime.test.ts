import { describe, expect, it } from 'vitest';
import { tokenLifetime } from './token-lifetime.js';

const MOUNT = 768 * 3600;

describe('tokenLifetime', () => {
  it('inherits the mount max when the role or user sets nothing', () => {
    expect(tokenLifetime({}, MOUNT)).toEqual({ seconds: MOUNT, explicit: false });
  });
  it('takes the smallest of explicit max, max and the mount max', () => {
    expect(tokenLifetime({ token_max_ttl: 8 * 3600 }, MOUNT)).toEqual({ seconds: 8 * 3600, explicit: true });
    expect(tokenLifetime({ token_max_ttl: 8 * 3600, token_explicit_max_ttl: 3600 }, MOUNT).seconds).toBe(
      3600,
    );
    expect(tokenLifetime({ token_max_ttl: 2000 * 3600 }, MOUNT)).toEqual({ seconds: MOUNT, explicit: true });
  });
  it('is unbounded (0) for a period without an explicit max, bounded with one', () => {
    expect(tokenLifetime({ token_period: 86_400 }, MOUNT)).toEqual({ seconds: 0, explicit: true });
    expect(tokenLifetime({ token_period: 86_400, token_explicit_max_ttl: 7200 }, MOUNT).seconds).toBe(7200);
  });
});
