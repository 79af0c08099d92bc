import { describe, expect, it } from 'vitest';
import { daysLeft, expirySeverity, parseSans, sanLists } from './certificate.js';
import { listenerTargets } from './listeners.js';
import { listenerKey, listenerOfAddress, parseListener } from './tls-probe.js';

describe('expiry thresholds 30/14/7', () => {
  it.each([
    [-0.5, 'critical'],
    [0, 'critical'],
    [0.1, 'high'],
    [4.9, 'high'],
    [7, 'high'],
    [7.01, 'medium'],
    [14, 'medium'],
    [14.5, 'low'],
    [29.99, 'low'],
    [30, 'low'],
    [30.01, 'info'],
    [365, 'info'],
  ] as const)('%d days left → %s', (days, severity) => {
    expect(expirySeverity(days)).toBe(severity);
  });

  it('counts days in fractions from now', () => {
    const now = new Date('2026-01-01T00:00:00Z');
    expect(daysLeft(new Date('2026-01-06T00:00:00Z'), now)).toBe(5);
    expect(daysLeft(new Date('2025-12-31T12:00:00Z'), now)).toBe(-0.5);
  });
});

describe('SANs', () => {
  it('splits what X.509 writes into DNS names and IP addresses', () => {
    const sans = parseSans('DNS:localhost, DNS:vault.internal, IP Address:127.0.0.1, URI:spiffe://x');
    expect(sans).toEqual(['DNS:localhost', 'DNS:vault.internal', 'IP Address:127.0.0.1', 'URI:spiffe://x']);
    expect(sanLists(sans)).toEqual({ dns: ['localhost', 'vault.internal'], ips: ['127.0.0.1'] });
    expect(parseSans(undefined)).toEqual([]);
  });
});

describe('listeners', () => {
  it('parses host:port, bracketed IPv6, and refuses the rest', () => {
    expect(parseListener('127.0.0.1:8201')).toEqual({ host: '127.0.0.1', port: 8201 });
    expect(parseListener('vault.internal:443')).toEqual({ host: 'vault.internal', port: 443 });
    expect(parseListener('[::1]:8200')).toEqual({ host: '::1', port: 8200 });
    for (const bad of ['127.0.0.1', 'https://x:1', 'x:0', 'x:70000', ':80', ''])
      expect(parseListener(bad), bad).toBeUndefined();
    expect(listenerKey({ host: '::1', port: 8200 })).toBe('[::1]:8200');
  });

  it('takes the https:// addresses (default port 443), then the extra listeners, each once', () => {
    expect(listenerOfAddress('http://127.0.0.1:8200')).toBeUndefined();
    expect(listenerOfAddress('https://vault.example.com')).toEqual({ host: 'vault.example.com', port: 443 });
    const targets = listenerTargets(
      ['http://127.0.0.1:8200', 'https://127.0.0.1:8300', 'https://[::1]:8400'],
      ['127.0.0.1:8300', '127.0.0.1:8201'],
    );
    expect(targets.map((t) => [listenerKey(t.listener), t.node])).toEqual([
      ['127.0.0.1:8300', 'https://127.0.0.1:8300'],
      ['[::1]:8400', 'https://[::1]:8400'],
      ['127.0.0.1:8201', '127.0.0.1:8201'],
    ]);
  });
});
