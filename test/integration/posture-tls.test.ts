import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { PostureReport } from '../../src/posture/posture.service.js';
import { findBaoBinary } from '../../src/vault/bao-binary.js';
import { freePorts } from '../../src/util/ports.js';
import { spawnDetached, stopProcess } from '../../src/util/processes.js';
import { waitFor } from '../../src/util/wait.js';
import { startPlainBaoServer, type PlainBaoServer } from '../harness/bao-server.js';
import { trackPid, untrackPid } from '../harness/cleanup.js';
import { runCli } from '../harness/cli.js';

/** A self-signed listener certificate for 127.0.0.1 that ends in `days` days, made by openssl. */
function makeCertificate(dir: string, days: number): void {
  execFileSync(
    'openssl',
    [
      'req',
      '-x509',
      '-newkey',
      'ec',
      '-pkeyopt',
      'ec_paramgen_curve:prime256v1',
      '-nodes',
      '-days',
      String(days),
      '-subj',
      '/CN=localhost',
      '-addext',
      'subjectAltName=IP:127.0.0.1',
      '-keyout',
      join(dir, 'listener.key'),
      '-out',
      join(dir, 'listener.crt'),
    ],
    { stdio: 'ignore', timeout: 30_000 },
  );
}

/**
 * The TLS part of `posture`: a real OpenBao with two extra TLS listeners serving a certificate that
 * ends in two days, one configured with tls_min_version = "tls10" (and so completing a TLS 1.1
 * handshake) and one with tls12. The expiring certificate is renewed (new files, SIGHUP) and the
 * legacy listener reconfigured (restart: OpenBao 2.7.2 re-reads certificates on SIGHUP but not
 * tls_min_version), and the findings go.
 */
describe('posture tls against real OpenBao TLS listeners', () => {
  let server: PlainBaoServer;
  let scratch: string;
  let tlsDir: string;
  let legacyPort: number;
  let modernPort: number;
  let restartedPid: number | undefined;
  const report = async () => {
    const result = await runCli(['posture', '--format', 'json', '--only', 'tls'], {
      env: {
        BAO_ADDR: server.address,
        BAO_TOKEN: server.rootToken,
        SEALWATCH_STORE: join(scratch, 'store.db'),
      },
      cwd: scratch,
      timeoutMs: 120_000,
    });
    expect(result.code, result.stderr).toBe(0);
    return result.json<PostureReport>();
  };
  const listener = (port: number, minVersion: string) =>
    `listener "tcp" {\n  address = "127.0.0.1:${port}"\n  tls_cert_file = ${JSON.stringify(join(tlsDir, 'listener.crt'))}\n  tls_key_file = ${JSON.stringify(join(tlsDir, 'listener.key'))}\n  tls_min_version = "${minVersion}"\n}\n`;

  beforeAll(async () => {
    scratch = mkdtempSync(join(tmpdir(), 'sealwatch-posture-tls-'));
    tlsDir = join(scratch, 'tls');
    execFileSync('mkdir', ['-p', tlsDir]);
    makeCertificate(tlsDir, 2);
    const ports = await freePorts(2);
    legacyPort = ports[0]!;
    modernPort = ports[1]!;
    server = await startPlainBaoServer({
      shares: 1,
      threshold: 1,
      extraConfig: listener(legacyPort, 'tls10') + listener(modernPort, 'tls12'),
    });
  }, 120_000);

  afterAll(async () => {
    if (restartedPid !== undefined) {
      await stopProcess(restartedPid, 5_000);
      untrackPid(restartedPid);
    }
    await server?.stop();
    if (scratch) rmSync(scratch, { recursive: true, force: true });
  });

  it('finds the listener below TLS 1.2 and the certificate near expiry, and neither once fixed', async () => {
    const legacy = `127.0.0.1:${legacyPort}`;
    const modern = `127.0.0.1:${modernPort}`;
    const before = new Map((await report()).findings.map((f) => [f.id, f]));
    expect(before.get(`tls:legacy-version:${legacy}`)).toMatchObject({
      severity: 'high',
      area: 'tls',
      evidence: expect.objectContaining({ tls_min_version: 'tls10', legacy_handshake: 'TLSv1.1' }),
    });
    expect(before.has(`tls:legacy-version:${modern}`)).toBe(false);
    for (const l of [legacy, modern])
      expect(before.get(`tls:cert-expiry:${l}`)).toMatchObject({
        severity: 'high',
        evidence: expect.objectContaining({ days_left: expect.closeTo(2, 0) }),
      });
    // The API listener (plain HTTP on loopback) is not a finding.
    expect([...before.keys()].filter((id) => id.startsWith('tls:disabled'))).toEqual([]);

    // Renew the certificate the way operators do: new files, then SIGHUP.
    makeCertificate(tlsDir, 90);
    process.kill(server.pid, 'SIGHUP');
    await waitFor(
      'the listeners to serve the renewed certificate',
      async () => {
        const r = await report();
        return !r.findings.some((f) => f.id.startsWith('tls:cert-expiry:'));
      },
      { timeoutMs: 60_000, intervalMs: 1_000 },
    );
    // SIGHUP does not re-read tls_min_version: the legacy listener still accepts TLS 1.1.
    const reloaded = await report();
    expect(reloaded.findings.map((f) => f.id)).toEqual([`tls:legacy-version:${legacy}`]);

    // Its fix: tls_min_version = "tls12", then a restart (listeners are read at start).
    const configFile = join(server.dir, 'server.hcl');
    writeFileSync(configFile, readFileSync(configFile, 'utf8').replace('"tls10"', '"tls12"'));
    await stopProcess(server.pid, 10_000);
    restartedPid = spawnDetached(
      findBaoBinary(),
      ['server', `-config=${configFile}`],
      join(server.dir, 'server-restarted.log'),
    );
    trackPid(restartedPid);
    const root = server.client();
    await waitFor('the restarted server to answer', () => root.health(server.address), {
      timeoutMs: 30_000,
      intervalMs: 200,
    });
    await root.unseal(server.address, server.unsealKeys[0]!);
    await waitFor(
      'the restarted server to become active',
      async () => (await root.health(server.address)).httpStatus === 200,
      { timeoutMs: 30_000, intervalMs: 200 },
    );
    const after = await report();
    expect(after.findings).toEqual([]);
    expect(after.checks[0]).toMatchObject({ id: 'tls', status: 'ok' });
  });
});
