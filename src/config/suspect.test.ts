import { describe, expect, it } from 'vitest';
import { canonicalSuspect, parseSuspect, parseSuspects } from './suspect.js';

const NOW = Date.parse('2026-05-02T00:00:00.000Z');

describe('parseSuspect', () => {
  it('reads each kind', () => {
    expect(parseSuspect('accessor:abc123', NOW)).toEqual({
      text: 'accessor:abc123',
      kind: 'accessor',
      value: 'abc123',
    });
    expect(parseSuspect('token-stdin', NOW)).toMatchObject({ kind: 'token-stdin', value: '' });
    expect(parseSuspect('role:auth/jwt/ci/deployer', NOW)).toMatchObject({
      kind: 'role',
      value: 'auth/jwt/ci/deployer',
    });
    expect(parseSuspect('entity:7d1c-aa', NOW)).toMatchObject({ kind: 'entity', value: '7d1c-aa' });
    expect(parseSuspect('display-name:approle', NOW)).toMatchObject({
      kind: 'display-name',
      value: 'approle',
    });
    expect(parseSuspect('address:2001:db8::/32', NOW)).toMatchObject({
      kind: 'address',
      value: '2001:db8::/32',
    });
    expect(parseSuspect('address:203.0.113.7', NOW)).toMatchObject({ kind: 'address', value: '203.0.113.7' });
  });

  it('bounds a suspect in time with durations back from now or ISO times, either side open', () => {
    expect(parseSuspect('role:approle/mailer@24h..1h', NOW)).toMatchObject({
      value: 'approle/mailer',
      since: '2026-05-01T00:00:00.000Z',
      until: '2026-05-01T23:00:00.000Z',
    });
    const open = parseSuspect('address:10.0.0.0/8@2026-04-30T12:00:00Z..', NOW);
    expect(open).toMatchObject({ since: '2026-04-30T12:00:00.000Z' });
    expect(open.until).toBeUndefined();
    expect(canonicalSuspect(parseSuspect('token-stdin@..2h', NOW))).toBe(
      'token-stdin@..2026-05-01T22:00:00.000Z',
    );
    expect(canonicalSuspect(open)).toBe('address:10.0.0.0/8@2026-04-30T12:00:00.000Z..');
  });

  it('refuses bad input with one message naming the suspect', () => {
    const bad: [string, RegExp][] = [
      ['colour:blue', /^--suspect colour:blue: unknown kind "colour"/],
      ['address:10.0.0.0/33', /is not an IP address or CIDR/],
      ['address:10.0.0/8', /is not an IP address or CIDR/],
      ['address:example.com', /is not an IP address or CIDR/],
      ['role:mailer', /give MOUNT\/ROLE/],
      ['accessor:', /needs a value/],
      ['token-stdin:abc', /takes no value/],
      ['entity:x@1h..2h', /since .* is after until/],
      ['entity:x@yesterday..', /since "yesterday" is neither a duration/],
    ];
    for (const [text, message] of bad) expect(() => parseSuspect(text, NOW), text).toThrow(message);
  });

  it('gives a repeated suspect once', () => {
    expect(parseSuspects(['entity:a', 'entity:a', 'entity:b'], NOW).map((s) => s.text)).toEqual([
      'entity:a',
      'entity:b',
    ]);
  });
});
