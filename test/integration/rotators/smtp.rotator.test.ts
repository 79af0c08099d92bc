import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort } from '../../../src/util/ports.js';
import { silentLogger } from '../../../src/logging/logger.js';
import { smtpTargetSchema, type SmtpTarget } from '../../../src/config/rotation.schema.js';
import { RotationError } from '../../../src/rotate/rotation.errors.js';
import type { RotationInput, SecretData, SecretRef } from '../../../src/rotate/rotator.js';
import { createSmtpRotator, signBody } from '../../../src/rotate/rotators/smtp.rotator.js';
import { rotatorContract } from '../../contract/rotator.contract.js';
import {
  readCredentialsFile,
  startCredentialWebhook,
  startSmtpServer,
  type CredentialWebhook,
  type TestSmtpServer,
} from '../../harness/smtp.js';

const SIGNING_ENV = 'SEALWATCH_TEST_SMTP_SIGNING_KEY';
const commandScript = fileURLToPath(new URL('../../fixtures/smtp/credential-command.mjs', import.meta.url));

let counter = 0;
function newSecret(): { ref: SecretRef; current: SecretData } {
  const tenant = `tenant${++counter}-${randomBytes(3).toString('hex')}`;
  return {
    ref: { tenant, kind: 'smtp', path: `secret/tenants/${tenant}/smtp` },
    // As the lab seeds it: the address clients use, not the verification endpoint of the target.
    current: {
      host: 'smtp.mail.example',
      port: '587',
      username: `${tenant}@mail.example`,
      password: randomBytes(16).toString('hex'),
    },
  };
}

const io = (ref: SecretRef, current: SecretData, next: SecretData): RotationInput => ({
  ref,
  current,
  next,
  logger: silentLogger(),
  signal: new AbortController().signal,
});

/** The config as an operator writes it, parsed by the real schema. */
const target = (raw: unknown): SmtpTarget => smtpTargetSchema.parse(raw);

rotatorContract('smtp (webhook → credential service, verified by SMTP AUTH)', async () => {
  const key = randomBytes(32).toString('hex');
  const smtp = await startSmtpServer();
  const webhook = await startCredentialWebhook(smtp, key);
  const rotator = createSmtpRotator(
    target({
      mode: 'webhook',
      url: webhook.url,
      signing_key: { env: SIGNING_ENV },
      verify: { host: smtp.host, port: smtp.port, tls: 'none' },
    }),
    { env: { [SIGNING_ENV]: key } },
  );
  return {
    rotator,
    refusesOld: true,
    secret: async () => {
      const s = newSecret();
      smtp.setPasswords(s.current['username']!, [s.current['password']!]);
      return s;
    },
    works: (_ref, data) => smtp.canLogin(data['username']!, data['password']!),
    teardown: async () => {
      await webhook.close();
      await smtp.close();
    },
  };
});

rotatorContract('smtp (command with JSON on stdin, verified by SMTP AUTH)', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'sealwatch-smtp-cmd-'));
  const file = join(dir, 'credentials.json');
  const smtp = await startSmtpServer({ credentialsFile: file });
  const rotator = createSmtpRotator(
    target({
      mode: 'command',
      command: [process.execPath, commandScript, file],
      verify: { host: smtp.host, port: smtp.port, tls: 'none' },
    }),
  );
  return {
    rotator,
    refusesOld: true,
    secret: async () => {
      const s = newSecret();
      // The credential tool itself seeds the user, as the platform would have.
      const seed = createSmtpRotator(
        target({ mode: 'command', command: [process.execPath, commandScript, file] }),
      );
      await seed.rollback(io(s.ref, s.current, s.current));
      return s;
    },
    works: (_ref, data) => smtp.canLogin(data['username']!, data['password']!),
    teardown: async () => {
      await smtp.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
});

describe('smtp rotator failures', () => {
  const key = randomBytes(32).toString('hex');
  let smtp: TestSmtpServer;
  let webhook: CredentialWebhook;
  let dir: string;

  beforeAll(async () => {
    smtp = await startSmtpServer();
    webhook = await startCredentialWebhook(smtp, key);
    dir = mkdtempSync(join(tmpdir(), 'sealwatch-smtp-fail-'));
  });
  afterAll(async () => {
    await webhook?.close();
    await smtp?.close();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  const seeded = () => {
    const s = newSecret();
    smtp.setPasswords(s.current['username']!, [s.current['password']!]);
    return s;
  };

  it('a webhook that is down is a retryable RotationError naming the target, and nothing changes', async () => {
    const port = await freePort();
    const rotator = createSmtpRotator(
      target({
        mode: 'webhook',
        url: `http://127.0.0.1:${port}/credentials`,
        signing_key: { env: SIGNING_ENV },
      }),
      { env: { [SIGNING_ENV]: key } },
    );
    const { ref, current } = seeded();
    const next = await rotator.generate(ref, current);
    const error = await rotator.apply(io(ref, current, next)).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(RotationError);
    const e = error as RotationError;
    expect(e.message).toContain(`127.0.0.1:${port}`);
    expect(e.message).toContain(ref.tenant);
    expect(e.message).toContain('ECONNREFUSED');
    expect(e.message).not.toContain(next['password']);
    expect(e.retryable).toBe(true);
    expect(rotator.targetOf(ref, current)).toBe(`webhook:127.0.0.1:${port}`);
    expect(await smtp.canLogin(current['username']!, next['password']!)).toBe(false);
  });

  it('the receiver checks the signature: a wrong key is refused (401) and the password is not applied', async () => {
    const rotator = createSmtpRotator(
      target({ mode: 'webhook', url: webhook.url, signing_key: { env: SIGNING_ENV } }),
      { env: { [SIGNING_ENV]: 'not-the-shared-key' } },
    );
    const { ref, current } = seeded();
    const next = await rotator.generate(ref, current);
    const error = (await rotator.apply(io(ref, current, next)).catch((e: unknown) => e)) as RotationError;
    expect(error).toBeInstanceOf(RotationError);
    expect(error.message).toContain('answered 401');
    expect(error.details['code']).toBe('http_401');
    expect(error.retryable).toBe(false);
    expect(error.message).not.toContain(next['password']);
    expect(await smtp.canLogin(current['username']!, next['password']!)).toBe(false);
    expect(await smtp.canLogin(current['username']!, current['password']!)).toBe(true);
  });

  it('an unsigned request and a tampered body are refused; the signed one is accepted', async () => {
    const body = JSON.stringify({
      tenant: 't',
      username: 'sig@mail.example',
      password: randomBytes(8).toString('hex'),
      action: 'apply',
      timestamp: Math.floor(Date.now() / 1000),
    });
    const post = (headers: Record<string, string>, payload = body) =>
      fetch(webhook.url, {
        method: 'POST',
        headers: { 'content-type': 'application/json', ...headers },
        body: payload,
      });
    expect((await post({})).status).toBe(401);
    const signature = signBody(key, body);
    expect(
      (await post({ 'x-sealwatch-signature': signature }, body.replace('apply', 'rollback'))).status,
    ).toBe(401);
    expect((await post({ 'x-sealwatch-signature': signature })).status).toBe(204);
  });

  it('a failing command is a RotationError with its stderr tail, scrubbed of the password', async () => {
    const file = join(dir, 'credentials.json');
    const rotator = createSmtpRotator(
      target({ mode: 'command', command: [process.execPath, commandScript, file] }),
    );
    const s = newSecret();
    const current = { ...s.current, username: `refuse-${s.ref.tenant}` };
    const next = await rotator.generate(s.ref, current);
    const error = (await rotator.apply(io(s.ref, current, next)).catch((e: unknown) => e)) as RotationError;
    expect(error).toBeInstanceOf(RotationError);
    expect(error.message).toContain('exited with 3');
    expect(error.message).toContain('credential store refused apply');
    expect(error.message).toContain('[redacted]');
    expect(error.message).not.toContain(next['password']);
    expect(readCredentialsFile(file)[current['username']]).toBeUndefined();
  });

  it('verify and verify-old-refused: an SMTP server that is down is a RotationError naming host:port', async () => {
    const port = await freePort();
    const rotator = createSmtpRotator(
      target({ mode: 'vault-only', verify: { host: '127.0.0.1', port, tls: 'none' } }),
    );
    const { ref, current } = seeded();
    const next = await rotator.generate(ref, current);
    expect(next['password']).toHaveLength(32);
    expect(rotator.targetOf(ref, current)).toBe(`smtp:127.0.0.1:${port}`);
    const error = (await rotator.verifyOldRefused!(io(ref, current, next)).catch(
      (e: unknown) => e,
    )) as RotationError;
    expect(error).toBeInstanceOf(RotationError);
    expect(error.message).toContain(`127.0.0.1:${port}`);
    expect(error.message).not.toContain(current['password']);
  });

  it('verify-old-refused fails while the server still accepts the old password', async () => {
    const rotator = createSmtpRotator(
      target({
        mode: 'webhook',
        url: webhook.url,
        signing_key: { env: SIGNING_ENV },
        password_length: 48,
        verify: { host: smtp.host, port: smtp.port, tls: 'none' },
      }),
      { env: { [SIGNING_ENV]: key } },
    );
    const { ref, current } = seeded();
    const next = await rotator.generate(ref, current);
    expect(next['password']).toHaveLength(48);
    const input = io(ref, current, next);
    await rotator.apply(input);
    await rotator.verify(input);
    const error = (await rotator.verifyOldRefused!(input).catch((e: unknown) => e)) as RotationError;
    expect(error).toBeInstanceOf(RotationError);
    expect(error.message).toContain('still accepts the old password');
    expect(error.message).not.toContain(current['password']);
    await rotator.finalize(input);
    await rotator.verifyOldRefused!(input);
    expect(
      webhook
        .requests()
        .filter((r) => r.tenant === ref.tenant)
        .map((r) => [r.action, r.status]),
    ).toEqual([
      ['apply', 204],
      ['finalize', 204],
    ]);
  });

  it('STARTTLS is required by default: a server without it is never sent the password', async () => {
    const rotator = createSmtpRotator(
      target({ mode: 'vault-only', verify: { host: smtp.host, port: smtp.port } }),
    );
    const { ref, current } = seeded();
    const error = (await rotator.verifyOldRefused!(io(ref, current, current)).catch(
      (e: unknown) => e,
    )) as RotationError;
    expect(error).toBeInstanceOf(RotationError);
    expect(error.message).toContain(`${smtp.host}:${smtp.port}`);
  });
});
