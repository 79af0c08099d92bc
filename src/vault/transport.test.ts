import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { silentLogger } from '../logging/logger.js';
import { freePort } from '../util/ports.js';
import { PermissionDeniedError, RateLimitedError, UnreachableError, VaultServerError } from './errors.js';
import { VaultTransport } from './transport.js';

/**
 * The retry and failover rules need failures a healthy OpenBao does not produce on demand (a 500
 * on the third call, a 429 then a 200); a scripted HTTP server plays them. Real-server behaviour is
 * covered by the integration tests.
 */
type Handler = (req: IncomingMessage, res: ServerResponse, call: number) => void;

const servers: Server[] = [];
afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => new Promise((r) => s.close(r))));
});

async function scripted(handler: Handler): Promise<{ address: string; calls: () => number }> {
  let calls = 0;
  const server = createServer((req, res) => {
    calls++;
    handler(req, res, calls);
  });
  servers.push(server);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return { address: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, calls: () => calls };
}

const reply = (res: ServerResponse, status: number, body: unknown) => {
  res.writeHead(status, { 'content-type': 'application/json' });
  res.end(JSON.stringify(body));
};

const transport = (addresses: string[], token = 's.secret-token-value') =>
  new VaultTransport({
    addresses,
    token,
    timeoutMs: 2_000,
    retries: 3,
    maxConnections: 4,
    logger: silentLogger(),
    backoffMs: 5,
  });

describe('VaultTransport', () => {
  it('retries an idempotent read after 5xx answers, with backoff', async () => {
    const node = await scripted((_req, res, call) =>
      call < 3 ? reply(res, 500, { errors: ['internal error'] }) : reply(res, 200, { data: { ok: true } }),
    );
    const t = transport([node.address]);
    const res = await t.send<{ data: { ok: boolean } }>({ method: 'GET', path: 'secret/data/x' });
    expect(res.body.data.ok).toBe(true);
    expect(node.calls()).toBe(3);
    await t.close();
  });

  it('never repeats a write after a 500 (it may have been executed)', async () => {
    const node = await scripted((_req, res) => reply(res, 500, { errors: ['internal error'] }));
    const t = transport([node.address]);
    await expect(
      t.send({ method: 'POST', path: 'secret/data/x', body: { data: {} } }),
    ).rejects.toBeInstanceOf(VaultServerError);
    expect(node.calls()).toBe(1);
    await t.close();
  });

  it('repeats a write refused with 429, honouring Retry-After', async () => {
    const node = await scripted((_req, res, call) => {
      if (call === 1) {
        res.writeHead(429, { 'content-type': 'application/json', 'retry-after': '0' });
        res.end(JSON.stringify({ errors: ['request path "secret/data/x": rate limit quota exceeded'] }));
      } else reply(res, 200, { data: { version: 2 } });
    });
    const t = transport([node.address]);
    const res = await t.send<{ data: { version: number } }>({
      method: 'POST',
      path: 'secret/data/x',
      body: {},
    });
    expect(res.body.data.version).toBe(2);
    expect(node.calls()).toBe(2);
    await t.close();
  });

  it('gives up on 429 after the configured retries with a typed error', async () => {
    const node = await scripted((_req, res) => reply(res, 429, { errors: ['rate limit quota exceeded'] }));
    const t = transport([node.address]);
    await expect(t.send({ method: 'GET', path: 'secret/data/x' })).rejects.toBeInstanceOf(RateLimitedError);
    expect(node.calls()).toBe(4);
    await t.close();
  });

  it('fails over to the next node when one refuses connections, and remembers it', async () => {
    const deadPort = await freePort();
    const live = await scripted((req, res) =>
      req.url?.startsWith('/v1/sys/leader')
        ? reply(res, 200, { is_self: true, leader_address: '' })
        : reply(res, 200, { data: { ok: true } }),
    );
    const t = transport([`http://127.0.0.1:${deadPort}`, live.address]);
    await t.send({ method: 'POST', path: 'auth/token/create', body: {} });
    expect(t.preferredNode).toBe(live.address);
    await t.close();
  });

  it('names node, method and path in errors and never the token, even when the server echoes it', async () => {
    const token = 's.secret-token-value';
    const node = await scripted((_req, res) =>
      reply(res, 403, { errors: [`permission denied for ${token}`] }),
    );
    const t = transport([node.address], token);
    const error = await t.send({ method: 'GET', path: 'sys/mounts' }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(PermissionDeniedError);
    const message = (error as Error).message;
    expect(message).toContain(`${node.address} GET sys/mounts (HTTP 403)`);
    expect(message).not.toContain(token);
    expect(JSON.stringify((error as PermissionDeniedError).details)).not.toContain(token);
    await t.close();
  });

  it('reports an address with nothing listening as unreachable', async () => {
    const port = await freePort();
    const t = transport([`http://127.0.0.1:${port}`]);
    const error = await t.send({ method: 'GET', path: 'sys/health' }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(UnreachableError);
    expect((error as Error).message).toMatch(/connection refused/);
    await t.close();
  });
});
