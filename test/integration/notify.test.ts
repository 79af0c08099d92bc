import { createHmac, timingSafeEqual } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { notifySchema, type NotifyConfig } from '../../src/config/notify.schema.js';
import { silentLogger } from '../../src/logging/logger.js';
import { createNotifier } from '../../src/notify/notify.service.js';
import type { StepContext } from '../../src/playbook/step.js';
import { notifyStep } from '../../src/respond/steps/notify.step.js';
import { Store } from '../../src/store/store.js';
import type { VaultClient } from '../../src/vault/client.js';
import { startTestLab, type TestLab } from '../harness/bao-lab.js';
import { startSmtpServer, type TestSmtpServer } from '../harness/smtp.js';

interface Hook {
  url: string;
  received: Array<{ path: string; body: string; idempotencyKey: string; signatureOk: boolean }>;
  delayMs: number;
  close(): Promise<void>;
}

/** A real HTTP receiver that checks the signature over "<timestamp>.<body>" like a tenant would. */
async function startWebhookReceiver(key: string): Promise<Hook> {
  const hook: Hook = { url: '', received: [], delayMs: 0, close: async () => undefined };
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks).toString('utf8');
      const ts = String(req.headers['x-sealwatch-timestamp']);
      const expected = Buffer.from(
        'sha256=' + createHmac('sha256', key).update(`${ts}.${body}`).digest('hex'),
      );
      const given = Buffer.from(String(req.headers['x-sealwatch-signature']));
      const signatureOk = given.length === expected.length && timingSafeEqual(given, expected);
      const answer = () => {
        hook.received.push({
          path: req.url ?? '',
          body,
          idempotencyKey: String(req.headers['idempotency-key']),
          signatureOk,
        });
        if (!res.destroyed) res.writeHead(signatureOk ? 204 : 401).end();
      };
      if (hook.delayMs > 0) setTimeout(answer, hook.delayMs);
      else answer();
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  hook.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  hook.close = () =>
    new Promise<void>((r) => {
      server.closeAllConnections();
      server.close(() => r());
    });
  return hook;
}

describe('notify step with a real SMTP server and a real webhook receiver', () => {
  let lab: TestLab;
  let vault: VaultClient;
  let smtp: TestSmtpServer;
  let hook: Hook;
  let store: Store;
  let dir: string;
  const tenants = ['tenant-0001', 'tenant-0002', 'tenant-0003'];
  const SIGNING_KEY = 'webhook-signing-key-for-tests';

  beforeAll(async () => {
    lab = await startTestLab({ nodes: 1, tenants: 3 });
    vault = lab.client();
    smtp = await startSmtpServer();
    smtp.setPasswords('notices', ['right-password']);
    hook = await startWebhookReceiver(SIGNING_KEY);
    dir = mkdtempSync(join(tmpdir(), 'sealwatch-notify-'));
    writeFileSync(join(dir, 'smtp-password'), 'right-password\n');
    store = await Store.open(join(dir, 'sealwatch.db'));
  });
  afterAll(async () => {
    await store?.close();
    await smtp?.close();
    await hook?.close();
    await lab?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  const config = (over: { port?: number; password?: string; timeoutMs?: number } = {}): NotifyConfig =>
    notifySchema.parse({
      from: 'Security <security@platform.example>',
      smtp: {
        host: smtp.host,
        port: over.port ?? smtp.port,
        starttls: 'none',
        auth: {
          user: 'notices',
          password: over.password ? { env: 'NOTIFY_PW' } : { file: join(dir, 'smtp-password') },
        },
        timeout_ms: 2_000,
      },
      webhooks: {
        url: `${hook.url}/hooks/{tenant}`,
        signing_key: { env: 'HOOK_KEY' },
        timeout_ms: over.timeoutMs ?? 2_000,
      },
      retries: { attempts: 2, backoff_ms: 20 },
    });
  const env = (password?: string) => ({ HOOK_KEY: SIGNING_KEY, NOTIFY_PW: password });
  const ctx = (incidentId: string): StepContext => ({
    incidentId,
    logger: silentLogger(),
    signal: new AbortController().signal,
    options: {},
    progress: () => undefined,
    outputs: {
      assess: { affected_tenants: tenants },
      rotate: {
        summary: {
          by_kind: {
            ssh: { rotated: 3 },
            smtp: { rotated: 3 },
            apikey: { rotated: 6 },
            dkim: { rotated: 0 },
          },
        },
      },
    },
  });
  const step = (cfg: NotifyConfig, password?: string) =>
    notifyStep({
      notifier: createNotifier({ store, config: cfg, logger: silentLogger(), env: env(password) }),
      vault,
      config: cfg,
    });
  const mailsFor = (incident: string) => smtp.messages().filter((m) => m.raw.includes(`<${incident}.`));

  it('sends exactly one notice per affected tenant and channel, and a resumed run sends none again', async () => {
    const cfg = config();
    const first = await step(cfg).run(ctx('INC-1'));
    expect(first.outputs).toEqual({ sent: 6, failed: 0, tenants: 3 });
    const mails = mailsFor('INC-1');
    expect(mails).toHaveLength(3);
    for (const tenant of tenants) {
      const mail = mails.find((m) => m.to.includes(`security@${tenant}.mail.example`))!;
      expect(mail.user).toBe('notices');
      expect(mail.raw).toContain(`Message-ID: <INC-1.${tenant}@sealwatch>`);
      expect(mail.raw).toMatch(/Subject: Security incident INC-1/);
      expect(mail.raw).toContain('API keys revoked');
      expect(mail.raw).not.toContain('DKIM');
    }
    const hooks = hook.received.filter((h) => h.idempotencyKey.startsWith('INC-1.'));
    expect(hooks.map((h) => h.path).sort()).toEqual(tenants.map((t) => `/hooks/${t}`));
    expect(hooks.every((h) => h.signatureOk)).toBe(true);
    expect(JSON.parse(hooks[0]!.body)).toMatchObject({ type: 'security_incident', incident_id: 'INC-1' });

    const again = await step(cfg).run(ctx('INC-1'));
    expect(again.outputs).toEqual({ sent: 6, failed: 0, tenants: 3 });
    expect(again.evidence['already_sent_earlier']).toBe(6);
    expect(mailsFor('INC-1')).toHaveLength(3);
    expect(hook.received.filter((h) => h.idempotencyKey.startsWith('INC-1.'))).toHaveLength(3);
    const rows = await store.notifications.listForIncident('INC-1');
    expect(rows).toHaveLength(6);
    expect(rows.every((r) => r.state === 'sent' && r.attempts === 1 && r.sent_at)).toBe(true);
  });

  it('SMTP refusing the login: email deliveries failed with the reason, webhooks sent, step fails clearly', async () => {
    const cfg = config({ password: 'wrong' });
    const error = (await step(cfg, 'wrong-password')
      .run(ctx('INC-2'))
      .catch((e: Error) => e)) as Error;
    expect(error.message).toMatch(
      /^3 of 6 notices failed \(tenant-0001 email: SMTP 127\.0\.0\.1:\d+ EAUTH: 535/,
    );
    expect(error.message).toMatch(/sent notices are not sent again$/);
    expect(error.message).not.toContain('wrong-password');
    const rows = await store.notifications.listForIncident('INC-2');
    expect(
      rows
        .filter((r) => r.channel === 'email')
        .every((r) => r.state === 'failed' && /EAUTH/.test(r.last_error ?? '')),
    ).toBe(true);
    // a refused login is not retried: it will not heal by itself
    expect(rows.filter((r) => r.channel === 'email').every((r) => r.attempts === 1)).toBe(true);
    expect(rows.filter((r) => r.channel === 'webhook').every((r) => r.state === 'sent')).toBe(true);
    expect(mailsFor('INC-2')).toHaveLength(0);

    // fixed, resumed: only the failed emails go out; the webhooks are not sent again
    const resumed = await step(config()).run(ctx('INC-2'));
    expect(resumed.outputs).toEqual({ sent: 6, failed: 0, tenants: 3 });
    expect(mailsFor('INC-2')).toHaveLength(3);
    expect(hook.received.filter((h) => h.idempotencyKey.startsWith('INC-2.'))).toHaveLength(3);
  });

  it('SMTP server down: failed with the connection reason after retries', async () => {
    const down = await startSmtpServer();
    const port = down.port;
    await down.close();
    const cfg = config({ port });
    const error = (await step(cfg)
      .run(ctx('INC-3'))
      .catch((e: Error) => e)) as Error;
    expect(error.message).toMatch(/ECONNECTION|ECONNREFUSED/);
    const rows = await store.notifications.listForIncident('INC-3');
    const email = rows.filter((r) => r.channel === 'email');
    expect(email.every((r) => r.state === 'failed' && r.attempts === 2)).toBe(true);
  });

  it('a webhook that times out: failed with the reason, emails sent', async () => {
    hook.delayMs = 1_500;
    try {
      const cfg = config({ timeoutMs: 300 });
      const error = (await step(cfg)
        .run(ctx('INC-4'))
        .catch((e: Error) => e)) as Error;
      expect(error.message).toMatch(
        /webhook http:\/\/127\.0\.0\.1:\d+\/hooks\/tenant-000\d timed out after 300 ms/,
      );
      const rows = await store.notifications.listForIncident('INC-4');
      expect(
        rows
          .filter((r) => r.channel === 'webhook')
          .every((r) => r.state === 'failed' && /timed out/.test(r.last_error!)),
      ).toBe(true);
      expect(rows.filter((r) => r.channel === 'email').every((r) => r.state === 'sent')).toBe(true);
      expect(mailsFor('INC-4')).toHaveLength(3);
    } finally {
      hook.delayMs = 0;
    }
  });
});
