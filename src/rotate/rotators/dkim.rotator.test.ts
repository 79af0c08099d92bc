import { describe, expect, it } from 'vitest';
import { generateDkimKey } from '../../secrets/generators.js';
import { dkimKeyPairProblem, dkimPublicKeyOf, nextSelector, zoneFileLine } from './dkim.rotator.js';

describe('nextSelector', () => {
  const at = new Date('2026-03-01T10:20:30Z');
  it('is sw<yyyymmddhhmm> in UTC, never the current selector', () => {
    expect(nextSelector('lab2024', at)).toBe('sw202603011020');
    expect(nextSelector(undefined, at)).toBe('sw202603011020');
    expect(nextSelector('sw202603011020', at)).toBe('sw202603011020a');
    expect(nextSelector('sw202603011020a', at)).toBe('sw202603011020b');
    expect(nextSelector('sw202603011020z', at)).toBe('sw202603011020za');
    expect(nextSelector('sw202603011019', at)).toBe('sw202603011020');
  });
});

describe('dkimPublicKeyOf', () => {
  it('reads p= whatever the tag order, spacing or folding', () => {
    expect(dkimPublicKeyOf('v=DKIM1; k=rsa; p=MIIB')).toBe('MIIB');
    expect(dkimPublicKeyOf('p = MI IB ;v=DKIM1')).toBe('MIIB');
    expect(dkimPublicKeyOf('v=DKIM1; k=rsa')).toBeNull();
    expect(dkimPublicKeyOf('v=DKIM1; p=')).toBe('');
  });
});

describe('zoneFileLine', () => {
  it('writes an absolute owner and quoted strings of at most 255 bytes', () => {
    const value = 'v=DKIM1; k=rsa; p=' + 'A'.repeat(400);
    const line = zoneFileLine('s._domainkey.a.example', value);
    expect(line.startsWith('s._domainkey.a.example. IN TXT "v=DKIM1; k=rsa; p=AAA')).toBe(true);
    const strings = [...line.matchAll(/"([^"]*)"/g)].map((m) => m[1]!);
    expect(strings.length).toBe(2);
    expect(strings.join('')).toBe(value);
    expect(zoneFileLine('a.example', 'say "hi"', 60)).toBe('a.example. 60 IN TXT "say \\"hi\\""');
  });
});

describe('dkimKeyPairProblem', () => {
  it('accepts a generated pair and names the mismatch without quoting keys', async () => {
    const [a, b] = await Promise.all([generateDkimKey('s', 1024), generateDkimKey('s', 1024)]);
    expect(dkimKeyPairProblem({ private_key: a.privateKey, public_key: a.publicKey })).toBeNull();
    expect(dkimKeyPairProblem({ private_key: a.privateKey, public_key: b.publicKey })).toMatch(
      /not the public half/,
    );
    expect(dkimKeyPairProblem({ private_key: 'garbage', public_key: a.publicKey })).toBe(
      'private_key is not a PEM key',
    );
    expect(dkimKeyPairProblem({ public_key: a.publicKey })).toMatch(/lacks/);
  });
});
