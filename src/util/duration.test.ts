import { describe, expect, it } from 'vitest';
import { parseDuration } from './duration.js';

describe('parseDuration', () => {
  it('reads the units people write', () => {
    expect(parseDuration('500ms')).toBe(500);
    expect(parseDuration('30s')).toBe(30_000);
    expect(parseDuration('5m')).toBe(300_000);
    expect(parseDuration('24h')).toBe(86_400_000);
    expect(parseDuration('7d')).toBe(604_800_000);
  });

  it('refuses anything else', () => {
    for (const text of ['', '24', 'h', '1.5h', '-1h', '2026-01-01T00:00:00Z'])
      expect(parseDuration(text)).toBeUndefined();
  });
});
