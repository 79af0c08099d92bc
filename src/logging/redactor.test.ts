import { generateKeyPairSync } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { REDACTED, Redactor } from './redactor.js';

const PASSWORD = 'Zq8vR2mKpL0xW4nT7yB1cD5e';

describe('Redactor', () => {
  it('cuts registered values out of text wherever they appear, longest first', () => {
    const r = new Redactor();
    r.register(PASSWORD, `${PASSWORD}-suffix`, 'short', undefined);
    expect(r.text(`login with ${PASSWORD}-suffix failed; retry ${PASSWORD}.`)).toBe(
      `login with ${REDACTED} failed; retry ${REDACTED}.`,
    );
    // Values shorter than six characters would cut words out of messages.
    expect(r.text('a short note')).toBe('a short note');
  });

  it('cuts the JSON-escaped, URL-encoded and line-by-line forms of a registered value', () => {
    const r = new Redactor();
    const multi = 'first line of a secret value\nsecond line of a secret value\n';
    const odd = 'p@ss/w0rd:with spaces';
    r.register(multi, odd);
    expect(r.text(JSON.stringify({ body: multi }))).not.toContain('second line');
    expect(r.text('quoted: second line of a secret value')).toBe(`quoted: ${REDACTED}`);
    expect(r.text(`postgres://app:${encodeURIComponent(odd)}@db/x`)).not.toContain(encodeURIComponent(odd));
  });

  it('cuts secret shapes nobody registered: tokens, PEM private keys (even cut off), hex shares, URL passwords', () => {
    const r = new Redactor();
    const { privateKey } = generateKeyPairSync('ed25519', {
      privateKeyEncoding: { type: 'pkcs8', format: 'pem' },
      publicKeyEncoding: { type: 'spki', format: 'pem' },
    });
    const share = 'ab'.repeat(33);
    const digest = 'cd'.repeat(32);
    const out = r.text(
      `token hvs.CAESIJ0aBcDeFgHiJkLmNoPqRsTuVwXyZ012345 and s.AbCdEfGhIjKlMnOpQrStUvWx key ${privateKey} ` +
        `share ${share} hash ${digest} url postgres://sealwatch:hunter22@127.0.0.1/db cut ${privateKey.slice(0, 60)}`,
    );
    expect(out).not.toMatch(/hvs\.|s\.AbCd|PRIVATE KEY|hunter22/);
    expect(out).not.toContain(share);
    expect(out).toContain(digest); // audit HMACs and fingerprints are evidence, not secrets
    expect(out).toContain(`postgres://sealwatch:${REDACTED}@127.0.0.1/db`);
  });

  it('replaces strings under secret-named keys at any depth and redacts the rest', () => {
    const r = new Redactor();
    r.register(PASSWORD);
    const out = r.value({
      a: { b: { c: { d: { password: 'anything', smtp_password: 'x-anything', note: `was ${PASSWORD}` } } } },
      list: [{ private_key: 'pem', count: 3 }],
      keys: 5,
      public_key: 'ssh-ed25519 AAAA',
    });
    expect(out).toEqual({
      a: { b: { c: { d: { password: REDACTED, smtp_password: REDACTED, note: `was ${REDACTED}` } } } },
      list: [{ private_key: REDACTED, count: 3 }],
      keys: 5,
      public_key: 'ssh-ed25519 AAAA',
    });
  });

  it('turns errors into redacted plain objects, with their cause, and survives cycles', () => {
    const r = new Redactor();
    r.register(PASSWORD);
    const cause = new Error(`inner ${PASSWORD}`);
    const error = Object.assign(new Error(`outer ${PASSWORD}`, { cause }), { code: 'E_X' });
    const cyclic: Record<string, unknown> = { error };
    cyclic['self'] = cyclic;
    const out = JSON.stringify(r.value(cyclic));
    expect(out).not.toContain(PASSWORD);
    expect(out).toContain('"message":"outer [redacted]"');
    expect(out).toContain('"code":"E_X"');
    expect(out).toContain('inner [redacted]');
    expect(out).toContain('[circular]');
    expect(r.errorLine(error)).toBe('outer [redacted]');
  });

  it('learns secrets from Vault bodies by field name, but not names from a LIST answer', () => {
    const r = new Redactor();
    const share = 'ef'.repeat(33);
    r.learn({
      auth: { client_token: 'hvs.learned-token-value-long-enough' },
      data: { data: { password: 'learned-password-1', username: 'tenant-0001' } },
      keys: [share],
    });
    r.learn({ data: { keys: ['tenant-0001', 'tenant-0002'] } });
    expect(r.text('learned-password-1 tenant-0001 tenant-0002')).toBe(`${REDACTED} tenant-0001 tenant-0002`);
    expect(r.text(`x ${share}`)).toBe(`x ${REDACTED}`);
  });

  it('stays fast with thousands of registered secrets', () => {
    const r = new Redactor();
    for (let i = 0; i < 5000; i++) r.register(`secret-value-${i}-${'x'.repeat(20)}`);
    const line = 'nothing to see here, '.repeat(5000);
    const start = performance.now();
    for (let i = 0; i < 10; i++) r.text(line);
    expect(performance.now() - start).toBeLessThan(1000);
    expect(r.text(`a secret-value-4999-${'x'.repeat(20)} b`)).toBe(`a ${REDACTED} b`);
  });
});
