import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { createLogger } from './logger.js';
import { registerSecret } from './redactor.js';

function capture() {
  const lines: string[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _encoding, done) {
      lines.push(chunk.toString());
      done();
    },
  });
  return { logger: createLogger({ level: 'trace', destination: sink }), lines };
}

describe('createLogger', () => {
  it('redacts known secrets and secret-named keys at any depth, in messages, bindings and errors', () => {
    const known = 'canary-known-value-7d1f0a';
    registerSecret(known);
    const { logger, lines } = capture();
    const child = logger.child({ tenant: 'acme', note: `bound ${known}` });
    child.info({ a: { b: { c: { d: { e: { password: 'deep-unregistered-pw' } } } } } }, 'nested');
    child.warn(`message with ${known} and hvs.CAESIJ0aBcDeFgHiJkLmNoPqRsTuVwXyZ`);
    child.debug('interpolated %s', known);
    child.error(new Error(`failed with ${known}`, { cause: new Error(`because ${known}`) }));
    child.error({ err: new Error(`keyed ${known}`) }, 'keyed');
    const text = lines.join('');
    expect(lines).toHaveLength(5);
    expect(text).not.toContain(known);
    expect(text).not.toContain('deep-unregistered-pw');
    expect(text).not.toContain('CAESIJ0a');
    const error = JSON.parse(lines[3]!) as {
      msg: string;
      err: { message: string; cause: { message: string } };
    };
    expect(error.msg).toBe('failed with [redacted]');
    expect(error.err.cause.message).toBe('because [redacted]');
    expect(JSON.parse(lines[0]!)).toMatchObject({
      tenant: 'acme',
      a: { b: { c: { d: { e: { password: '[redacted]' } } } } },
    });
  });
});
