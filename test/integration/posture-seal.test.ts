import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { PostureReport } from '../../src/posture/posture.service.js';
import { waitFor } from '../../src/util/wait.js';
import { startPlainServer, type PlainServer } from '../harness/bao-server.js';
import { runCli } from '../harness/cli.js';
import { startKmipServer, type KmipServer } from '../harness/pykmip.js';

/**
 * The seal check and the unauthenticated-endpoints check against real seals on OpenBao: `transit`
 * towards a second OpenBao (then that OpenBao stopped), `static` with a key file, `kmip` towards a
 * PyKMIP server (then stopped), Shamir with the unauthenticated rekey and generate-root endpoints
 * served and not.
 */

const scratch = mkdtempSync(join(tmpdir(), 'sealwatch-posture-seal-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

async function posture(server: Pick<PlainServer, 'address'>, token: string, only: string) {
  const result = await runCli(['posture', '--json', '--only', only], {
    env: { BAO_ADDR: server.address, BAO_TOKEN: token, SEALWATCH_STORE: join(scratch, 'store.db') },
    cwd: scratch,
    timeoutMs: 120_000,
  });
  expect(result.code, result.stderr).toBe(0);
  return { report: result.json<PostureReport>(), stdout: result.stdout };
}
const find = (r: PostureReport, id: string) => r.findings.find((f) => f.id === id);
const ids = (r: PostureReport) => r.findings.map((f) => f.id);

/**
 * The seal's own health check runs every health_check_interval (10m by default): the tests ask for
 * 1s so that the server learns within seconds, as an operator would to alert sooner.
 */
const HEALTH_CHECK = `  health_check_interval = "1s"
  health_check_interval_unhealthy = "1s"
  health_check_timeout = "2s"`;
const TELEMETRY = `telemetry {
  prometheus_retention_time = "1h"
  disable_hostname = true
}
`;

describe('posture seal check: transit auto-unseal against a second OpenBao', () => {
  let transit: PlainServer;
  let sealed: PlainServer;
  let transitToken: string;

  beforeAll(async () => {
    // Server A: the transit engine and key that guard B's root key.
    transit = await startPlainServer({ shares: 1, threshold: 1 });
    const a = transit.client(transit.rootToken);
    await a.enableMount('transit', { type: 'transit' });
    await a.write('transit/keys/autounseal', {});
    await a.writePolicy(
      'autounseal',
      'path "transit/encrypt/autounseal" { capabilities = ["update"] }\npath "transit/decrypt/autounseal" { capabilities = ["update"] }',
    );
    transitToken = (await a.tokenCreate({ policies: ['autounseal'], period: '24h' }, { orphan: true }))
      .client_token;
    // Server B: auto-unsealed by A, 3 recovery keys of which 2 are enough.
    sealed = await startPlainServer({
      recovery: { shares: 3, threshold: 2 },
      extraConfig: `seal "transit" {
  address = "${transit.address}"
  token = "${transitToken}"
  key_name = "autounseal"
  mount_path = "transit/"
${HEALTH_CHECK}
}
${TELEMETRY}`,
    });
  }, 180_000);

  afterAll(async () => {
    await sealed?.stop();
    await transit?.stop();
  });

  it('reports the transit seal, its backend answering, and the 2-of-3 recovery keys', async () => {
    const status = await sealed.client().sealStatus();
    expect(status).toMatchObject({ type: 'transit', recovery_seal: true, sealed: false, t: 2, n: 3 });
    expect(sealed.recoveryKeys).toHaveLength(3);
    const r = await waitFor(
      'the seal health check to answer',
      async () => {
        const { report } = await posture(sealed, sealed.rootToken, 'seal');
        return ids(report).includes('seal:backend-unknown') ? undefined : report;
      },
      { timeoutMs: 60_000, intervalMs: 1_000 },
    );
    expect(find(r, 'seal:auto-unseal')).toMatchObject({
      severity: 'info',
      title: 'the server auto-unseals with the transit seal, whose backend answers',
      evidence: expect.objectContaining({
        type: 'transit',
        recovery_seal: true,
        recovery_seal_type: 'shamir',
        configured_seals: [{ type: 'transit', disabled: false }],
        backend: { state: 'answers', source: 'sys/metrics?format=prometheus' },
      }),
    });
    expect(find(r, 'seal:low-threshold')).toMatchObject({
      severity: 'high',
      title: '2 of 3 recovery keys are enough (threshold below 3)',
      fix: 'bao operator rekey -init -key-shares=5 -key-threshold=3 -target=recovery',
    });
    expect(ids(r)).not.toContain('seal:shamir');
    expect(ids(r)).not.toContain('seal:backend-unreachable');
    // The transit token lives in B's configuration only: sealwatch neither reads nor reports it.
    expect(JSON.stringify(r)).not.toContain(transitToken);
  });

  it('says the server can read no metrics when the token may not read sys/metrics', async () => {
    const root = sealed.client(sealed.rootToken);
    await root.writePolicy('seal-only', 'path "sys/key-status" { capabilities = ["read"] }');
    const limited = await root.tokenCreate({ policies: ['seal-only'], ttl: '10m' });
    const { report } = await posture(sealed, limited.client_token, 'seal');
    expect(find(report, 'seal:could-not-read:sys/metrics')).toMatchObject({
      severity: 'medium',
      title: 'could not read whether the transit seal backend answers (needs read on sys/metrics)',
    });
    expect(find(report, 'seal:auto-unseal')!.evidence['backend']).toMatchObject({ state: 'unknown' });
  });

  it('says the transit backend does not answer once server A is stopped, while B still reports unsealed', async () => {
    await transit.stop();
    const r = await waitFor(
      'the seal health check to fail',
      async () => {
        const { report } = await posture(sealed, sealed.rootToken, 'seal');
        return find(report, 'seal:backend-unreachable') ? report : undefined;
      },
      { timeoutMs: 90_000, intervalMs: 2_000 },
    );
    const down = find(r, 'seal:backend-unreachable')!;
    expect(down).toMatchObject({ severity: 'high', area: 'seal' });
    expect(down.title).toMatch(/^the transit seal backend does not answer the server/);
    expect(down.evidence['unreachable_ms']).toBeGreaterThan(0);
    expect(find(r, 'seal:auto-unseal')!.title).toBe('the server auto-unseals with the transit seal');
    // What B itself says: still unsealed and active; seal-status and health do not change.
    const status = await sealed.client().sealStatus();
    expect(status).toMatchObject({ sealed: false, type: 'transit' });
    expect((await sealed.client().health(sealed.address)).httpStatus).toBe(200);
  });
});

describe('posture seal check: static seal with a key file', () => {
  let server: PlainServer;
  let key: Buffer;

  beforeAll(async () => {
    key = randomBytes(32);
    const keyDir = mkdtempSync(join(scratch, 'static-key-'));
    const keyFile = join(keyDir, 'unseal-1.key');
    writeFileSync(keyFile, key, { mode: 0o600 });
    server = await startPlainServer({
      recovery: { shares: 1, threshold: 1 },
      extraConfig: `seal "static" {
  current_key_id = "20261206-1"
  current_key = "file://${keyFile}"
}
`,
    });
  }, 120_000);
  afterAll(async () => {
    await server?.stop();
  });

  it('flags the static key beside the server and the single recovery key', async () => {
    expect(await server.client().sealStatus()).toMatchObject({ type: 'static', sealed: false });
    const { report, stdout } = await posture(server, server.rootToken, 'seal');
    expect(find(report, 'seal:static-key')).toMatchObject({
      severity: 'medium',
      evidence: expect.objectContaining({
        type: 'static',
        configured_seals: [{ type: 'static', disabled: false }],
      }),
    });
    expect(find(report, 'seal:single-share')).toMatchObject({
      severity: 'high',
      title: 'one recovery key authorises the server (1 of 1)',
    });
    expect(ids(report)).not.toContain('seal:shamir');
    expect(ids(report)).not.toContain('seal:auto-unseal');
    for (const encoded of [key.toString('hex'), key.toString('base64')])
      expect(stdout).not.toContain(encoded);
  });
});

describe('posture seal check: kmip auto-unseal against a PyKMIP server', () => {
  let kmip: KmipServer;
  let server: PlainServer;

  beforeAll(async () => {
    kmip = await startKmipServer();
    // PyKMIP offers only TLS 1.2 suites that Go leaves out by default (OpenBao's KMIP seal docs say so).
    // No telemetry stanza: posture reads the gauge from the in-memory sink's JSON.
    server = await startPlainServer({
      recovery: { shares: 5, threshold: 3 },
      extraConfig: `seal "kmip" {
  endpoint = "${kmip.endpoint}"
  kms_key_id = "${kmip.keyId}"
  client_cert = "${kmip.clientCert}"
  client_key = "${kmip.clientKey}"
  ca_cert = "${kmip.caCert}"
  tls12_ciphers = "TLS_RSA_WITH_AES_128_CBC_SHA256"
${HEALTH_CHECK}
}
`,
    });
  }, 180_000);
  afterAll(async () => {
    await server?.stop();
    await kmip?.stop();
  });

  it('reports the kmip seal whose backend answers, then that it does not once PyKMIP is stopped', async () => {
    expect(await server.client().sealStatus()).toMatchObject({ type: 'kmip', sealed: false, t: 3, n: 5 });
    const up = await waitFor(
      'the seal health check to answer',
      async () => {
        const { report } = await posture(server, server.rootToken, 'seal');
        return ids(report).includes('seal:backend-unknown') ? undefined : report;
      },
      { timeoutMs: 60_000, intervalMs: 1_000 },
    );
    // 5 recovery keys, 3 needed, the backend answers: an informational finding only.
    expect(ids(up)).toEqual(['seal:auto-unseal']);
    expect(find(up, 'seal:auto-unseal')).toMatchObject({
      title: 'the server auto-unseals with the kmip seal, whose backend answers',
      evidence: expect.objectContaining({
        type: 'kmip',
        shares: 5,
        threshold: 3,
        backend: { state: 'answers', source: 'sys/metrics' },
      }),
    });
    expect(up.score.by_area).toEqual({ seal: 100 });

    await kmip.stop();
    const down = await waitFor(
      'the seal health check to fail',
      async () => {
        const { report } = await posture(server, server.rootToken, 'seal');
        return find(report, 'seal:backend-unreachable') ? report : undefined;
      },
      { timeoutMs: 90_000, intervalMs: 2_000 },
    );
    expect(find(down, 'seal:backend-unreachable')!.title).toMatch(/^the kmip seal backend does not answer/);
    expect(down.score.by_area.seal).toBe(70);
  });
});

describe('posture unauthenticated rekey and generate-root endpoints', () => {
  let open: PlainServer;
  let closed: PlainServer;

  beforeAll(async () => {
    [open, closed] = await Promise.all([
      startPlainServer({
        shares: 5,
        threshold: 3,
        listenerConfig: `  disable_unauthed_rekey_endpoints = false\n  disable_unauthed_generate_root_endpoints = "false"`,
      }),
      // OpenBao 2.7.2's defaults: neither family served.
      startPlainServer({ shares: 5, threshold: 3 }),
    ]);
  }, 120_000);
  afterAll(async () => {
    await Promise.all([open?.stop(), closed?.stop()]);
  });

  it('finds both families served on a listener that turns them on, and probes without starting anything', async () => {
    const { report } = await posture(open, open.rootToken, 'unauthed-endpoints');
    const listener = new URL(open.address).host;
    const rekey = find(report, `unauthed-endpoints:rekey:${listener}`);
    expect(rekey).toMatchObject({
      severity: 'medium',
      area: 'seal',
      evidence: expect.objectContaining({
        setting: 'disable_unauthed_rekey_endpoints',
        configured: false,
        probe: { addr: open.address, path: 'sys/rekey/init', served: true, http_status: 200 },
      }),
    });
    expect(rekey!.fix).toContain('disable_unauthed_rekey_endpoints = true');
    const root = find(report, `unauthed-endpoints:generate-root:${listener}`);
    expect(root).toMatchObject({
      evidence: expect.objectContaining({
        setting: 'disable_unauthed_generate_root_endpoints',
        configured: 'false',
        probe: expect.objectContaining({ served: true, http_status: 200 }),
      }),
    });
    expect(root!.fix).toContain('disable_unauthed_generate_root_endpoints = true');
    expect(ids(report)).toHaveLength(2);
    // The probe read the status only: no rekey and no root generation was started.
    const client = open.client();
    expect((await client.generateRootStatus('unauthenticated')).started).toBe(false);
    const rekeyStatus = await client.transport.send<{ started: boolean }>({
      method: 'GET',
      path: 'sys/rekey/init',
      token: null,
    });
    expect(rekeyStatus.body.started).toBe(false);
  });

  it('finds nothing on OpenBao 2.7.2 defaults, where the probe is refused', async () => {
    const { report } = await posture(closed, closed.rootToken, 'unauthed-endpoints');
    expect(report.findings).toEqual([]);
    expect(report.checks).toEqual([expect.objectContaining({ id: 'unauthed-endpoints', status: 'ok' })]);
    const probe = await closed.client().unauthenticatedEndpointServed('sys/rekey/init');
    expect(probe).toEqual({ served: false, httpStatus: 405 });
  });

  it('believes the probe over the configuration after a reload: SIGHUP shows the new setting but keeps the handlers', async () => {
    const listener = new URL(open.address).host;
    writeFileSync(
      open.configFile,
      readFileSync(open.configFile, 'utf8')
        .replace('disable_unauthed_rekey_endpoints = false', 'disable_unauthed_rekey_endpoints = true')
        .replace(
          'disable_unauthed_generate_root_endpoints = "false"',
          'disable_unauthed_generate_root_endpoints = true',
        ),
    );
    process.kill(open.pid, 'SIGHUP');
    const root = open.client(open.rootToken);
    await waitFor(
      'the reloaded configuration',
      async () => {
        const config = await root.read<{ listeners: { config: Record<string, unknown> }[] }>(
          'sys/config/state/sanitized',
        );
        return config.data.listeners[0]!.config['disable_unauthed_rekey_endpoints'] === true;
      },
      { timeoutMs: 30_000, intervalMs: 200 },
    );
    const { report } = await posture(open, open.rootToken, 'unauthed-endpoints');
    expect(ids(report)).not.toContain(`unauthed-endpoints:rekey:${listener}`);
    expect(ids(report).sort()).toEqual(
      [`unauthed-endpoints:generate-root:${open.address}`, `unauthed-endpoints:rekey:${open.address}`].sort(),
    );
    const rekey = find(report, `unauthed-endpoints:rekey:${open.address}`)!;
    expect(rekey.evidence['note']).toContain('keeps its handlers until the server restarts');
    expect(rekey.evidence['probe']).toMatchObject({ served: true, http_status: 200 });
  });

  it('falls back to the probe when the configuration may not be read', async () => {
    const root = open.client(open.rootToken);
    await root.writePolicy('no-config', 'path "sys/auth" { capabilities = ["read"] }');
    const limited = await root.tokenCreate({ policies: ['no-config'], ttl: '10m' });
    const { report } = await posture(open, limited.client_token, 'unauthed-endpoints');
    expect(ids(report).sort()).toEqual(
      [
        'unauthed-endpoints:could-not-read:sys/config/state/sanitized',
        `unauthed-endpoints:generate-root:${open.address}`,
        `unauthed-endpoints:rekey:${open.address}`,
      ].sort(),
    );
  });
});
