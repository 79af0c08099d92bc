import { X509Certificate } from 'node:crypto';
import { appendFileSync, existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { createServer, type Server, type Socket } from 'node:net';
import { join } from 'node:path';
import { connect } from 'node:tls';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse, stringify } from 'yaml';
import { loadConfig } from '../../src/config/load.js';
import { startLabNode } from '../../src/lab/lab.service.js';
import { silentLogger } from '../../src/logging/logger.js';
import type { RunbookDiagnosis as Diagnosis } from '../../src/runbooks/runbook.js';
import { diagnose } from '../../src/runbooks/runbook.js';
import { certExpiryRunbook } from '../../src/runbooks/runbooks/cert-expiry.runbook.js';
import { Store } from '../../src/store/store.js';
import { waitFor } from '../../src/util/wait.js';
import { VaultClient } from '../../src/vault/client.js';
import { startTestLab, type TestLab } from '../harness/bao-lab.js';
import { runCli } from '../harness/cli.js';
import { labSite } from '../../src/lab/lab-site.js';

/** A TCP server on 127.0.0.1 that accepts and then never answers, or answers bytes that are not TLS. */
async function badListener(kind: 'hang' | 'garbage'): Promise<{ listener: string; close(): Promise<void> }> {
  const sockets = new Set<Socket>();
  const server: Server = createServer((socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => undefined);
    if (kind === 'garbage') socket.end('\u0000\u0001 not tls at all\r\n\r\n');
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as { port: number }).port;
  return {
    listener: `127.0.0.1:${port}`,
    close: () =>
      new Promise((resolve) => {
        sockets.forEach((s) => s.destroy());
        server.close(() => resolve());
      }),
  };
}

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as { port: number }).port;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

/** The test's own handshake: what the listener really serves, trusting nothing. */
function served(port: number): Promise<X509Certificate> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host: '127.0.0.1', port, rejectUnauthorized: false }, () => {
      const raw = socket.getPeerCertificate().raw;
      socket.destroy();
      resolve(new X509Certificate(raw));
    });
    socket.once('error', reject);
    socket.setTimeout(5_000, () => {
      socket.destroy();
      reject(new Error(`no handshake on ${port}`));
    });
  });
}

const DAY_MS = 86_400_000;
const daysLeft = (cert: X509Certificate) => (new Date(cert.validTo).getTime() - Date.now()) / DAY_MS;

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

describe('runbook cert-expiry against a real 3-node OpenBao with a TLS listener', () => {
  let lab: TestLab;
  let vault: VaultClient;
  let tlsDir: string;
  let certFile: string;
  let keyFile: string;
  let caConfig: string;
  let tlsPort: number;
  let expiringFingerprint: string;
  const TLS_NODE = 'node2';
  const cli = (args: string[]) =>
    runCli([...args, '--config', caConfig], { cwd: lab.dir, timeoutMs: 180_000 });
  const listener = () => `127.0.0.1:${tlsPort}`;

  /** Issues from the lab's PKI mount; the private key stays in the test. */
  const issue = async (ttl: string) => {
    const res = await vault.write<{ certificate: string; private_key: string }>('pki/issue/listener', {
      common_name: 'localhost',
      ip_sans: '127.0.0.1',
      ttl,
    });
    return res!.data;
  };

  beforeAll(async () => {
    lab = await startTestLab({ nodes: 3, tenants: 1 });
    vault = lab.client();
    // The fault, made for real: OpenBao's own PKI engine issues a listener certificate for 5 days.
    await vault.enableMount('pki', { type: 'pki' });
    await vault.write('sys/mounts/pki/tune', { max_lease_ttl: '87600h' });
    const root = await vault.write<{ certificate: string }>('pki/root/generate/internal', {
      common_name: 'sealwatch test CA',
      ttl: '87600h',
    });
    await vault.write('pki/roles/listener', {
      allowed_domains: 'localhost',
      allow_bare_domains: true,
      allow_localhost: true,
      allow_ip_sans: true,
      max_ttl: '2400h',
    });
    tlsDir = join(lab.dir, 'tls');
    mkdirSync(tlsDir, { mode: 0o700 });
    certFile = join(tlsDir, 'listener.crt');
    keyFile = join(tlsDir, 'listener.key');
    writeFileSync(join(tlsDir, 'ca.pem'), `${root!.data.certificate}\n`);
    const expiring = await issue('120h');
    writeFileSync(certFile, `${expiring.certificate}\n`, { mode: 0o644 });
    writeFileSync(keyFile, `${expiring.private_key}\n`, { mode: 0o600 });
    expiringFingerprint = new X509Certificate(expiring.certificate).fingerprint256;

    // A second, TLS listener on one node: listeners are only added at start, so restart that node.
    tlsPort = await freePort();
    const node = lab.lab().nodes.find((n) => n.node_id === TLS_NODE)!;
    appendFileSync(
      node.config_file,
      `\nlistener "tcp" {\n  address = "127.0.0.1:${tlsPort}"\n  cluster_address = "127.0.0.1:0"\n  tls_cert_file = ${JSON.stringify(certFile)}\n  tls_key_file = ${JSON.stringify(keyFile)}\n}\n`,
    );
    process.kill(node.pid, 'SIGTERM');
    await waitFor(`${TLS_NODE} to stop`, async () => !isAlive(node.pid), { timeoutMs: 30_000 });
    const restarted = await startLabNode(lab.dir, TLS_NODE, { logger: silentLogger() });
    for (const key of lab.lab().unseal_keys.slice(0, 3)) await vault.unseal(restarted.address, key);
    await waitFor(
      'the restarted node to be unsealed and every voter healthy',
      async () => !(await vault.health(restarted.address)).sealed && (await vault.autopilotState()).healthy,
      { timeoutMs: 60_000, intervalMs: 250 },
    );

    // A cert auth method trusting one client certificate that ends in 10 days and one that does not.
    await vault.enableAuth('cert', { type: 'cert' });
    const soon = await issue('240h');
    const later = await issue('2000h');
    await vault.write('auth/cert/certs/web-client', {
      certificate: soon.certificate,
      display_name: 'web-client',
    });
    await vault.write('auth/cert/certs/ops-client', {
      certificate: later.certificate,
      display_name: 'ops-client',
    });

    // The sealwatch config verifies chains against the lab CA (vault.tls.ca_file).
    const config = parse(readFileSync(lab.configFile, 'utf8')) as { vault: Record<string, unknown> };
    config.vault['tls'] = { ca_file: 'tls/ca.pem' };
    caConfig = join(lab.dir, 'sealwatch-ca.yaml');
    writeFileSync(caConfig, stringify(config));
  });
  afterAll(async () => {
    await lab?.stop();
  });

  it('names the listener serving a 5-day certificate (high) and the client certificate ending in 10 days (medium); exit 3 at --fail-on high', async () => {
    expect(daysLeft(await served(tlsPort))).toBeLessThan(5.01);
    const result = await cli([
      'runbook',
      'diagnose',
      'cert-expiry',
      '--json',
      '--fail-on',
      'high',
      '--listener',
      listener(),
    ]);
    expect(result.code, result.stderr).toBe(3);
    const diagnosis = result.json<Diagnosis>();
    expect(diagnosis.healthy).toBe(false);
    const expiring = diagnosis.findings.find((f) => f.id === 'listener-cert-expires-soon')!;
    expect(expiring).toMatchObject({ severity: 'high', node: listener() });
    expect(expiring.symptom).toContain(listener());
    expect(expiring.suggested_step).toContain('sealwatch runbook run cert-expiry');
    expect(expiring.evidence).toMatchObject({
      listener: listener(),
      common_name: 'localhost',
      issuer: 'CN=sealwatch test CA',
      fingerprint_sha256: expiringFingerprint,
      // The server presents the leaf; the handshake completes the chain from the configured CA file.
      chain_length: 2,
      verifies: true,
      verified_against: join(lab.dir, 'tls', 'ca.pem'),
      hostname_matches: true,
    });
    expect(expiring.evidence['sans']).toEqual(
      expect.arrayContaining(['DNS:localhost', 'IP Address:127.0.0.1']),
    );
    expect(expiring.evidence['days_left']).toBeGreaterThan(4.8);
    expect(expiring.evidence['days_left']).toBeLessThanOrEqual(5);
    expect(
      (expiring.evidence['chain'] as { in_trust_store: boolean }[]).map((c) => c.in_trust_store),
    ).toEqual([false, true]);

    const client = diagnosis.findings.find((f) => f.id === 'client-cert-expires-soon')!;
    expect(client).toMatchObject({ severity: 'medium' });
    expect(client.evidence).toMatchObject({
      mount: 'auth/cert/',
      name: 'web-client',
      subject: 'CN=localhost',
    });
    expect(client.evidence['days_left']).toBeGreaterThan(9.8);
    expect(client.evidence['days_left']).toBeLessThanOrEqual(10);
    expect(diagnosis.findings.filter((f) => f.id.startsWith('client-cert-expire'))).toHaveLength(1);
    expect(diagnosis.findings.find((f) => f.id === 'client-certs-checked')?.evidence).toMatchObject({
      entries: 2,
      certificates: 2,
      soonest: 'web-client',
    });
    // The configured addresses are plain HTTP: nothing but the named listener is handshaken.
    expect(diagnosis.findings.filter((f) => f.id.startsWith('listener-'))).toHaveLength(1);
  });

  it('reads the cluster ports: the active node serves its request-forwarding certificate, a standby only its raft peers', async () => {
    const leader = (await vault.leader()).leader_address;
    const clusterPorts = lab.lab().nodes.map((n) => ({
      active: n.address === leader,
      listener: new URL(n.cluster_address).host,
    }));
    const result = await cli([
      'runbook',
      'diagnose',
      'cert-expiry',
      '--json',
      ...clusterPorts.flatMap((c) => ['--listener', c.listener]),
    ]);
    const findings = result.json<Diagnosis>().findings;
    for (const port of clusterPorts) {
      const finding = findings.find((f) => f.node === port.listener)!;
      if (port.active) {
        expect(finding).toMatchObject({ id: 'listener-cert-ok', severity: 'info' });
        expect(finding.evidence).toMatchObject({ verifies: false, chain_length: 1 });
        expect(String(finding.evidence['subject'])).toMatch(/^CN=fw-/);
      } else {
        expect(finding).toMatchObject({ id: 'listener-tls-failed', severity: 'low' });
        expect(finding.evidence).toMatchObject({ reason: 'tls-alert' });
        expect(String(finding.evidence['error'])).toContain('cluster port on a standby');
      }
    }
  });

  it('reports a plain-HTTP port, a hanging port and a port answering garbage with the reason, within 3 s', async () => {
    const hang = await badListener('hang');
    const garbage = await badListener('garbage');
    const http = new URL(lab.lab().nodes[0]!.address).host;
    const config = loadConfig({ config: caConfig });
    const diagnoseVault = new VaultClient({
      addresses: config.vault.addresses,
      token: lab.lab().root_token,
      timeoutMs: 2_500,
      retries: 0,
      maxConnections: 8,
      logger: silentLogger(),
    });
    const store = await Store.open(config.store.url);
    try {
      const options = {
        vault: diagnoseVault,
        store,
        config,
        logger: silentLogger(),
        site: labSite(config.lab?.file, { logger: silentLogger() }),
      };
      // A diagnosis of the lab with its TLS listener: well inside the 3 s bound.
      const quick = Date.now();
      await diagnose(certExpiryRunbook, options, certExpiryRunbook.options.parse({ listener: [listener()] }));
      expect((Date.now() - quick) / 1000).toBeLessThan(1.5);
      const started = Date.now();
      const result = await diagnose(
        certExpiryRunbook,
        options,
        certExpiryRunbook.options.parse({ listener: [listener(), http, hang.listener, garbage.listener] }),
      );
      const seconds = (Date.now() - started) / 1000;
      expect(seconds).toBeLessThan(3);
      const failed = Object.fromEntries<Record<string, unknown>>(
        result.findings
          .filter((f) => f.id === 'listener-tls-failed')
          .map((f): [string, Record<string, unknown>] => [
            f.node ?? '',
            { severity: f.severity, ...f.evidence },
          ]),
      );
      expect(failed[http]).toMatchObject({ severity: 'high', reason: 'not-tls' });
      expect(String(failed[http]!['error'])).toMatch(/not TLS/);
      expect(failed[hang.listener]).toMatchObject({ severity: 'high', reason: 'timeout' });
      expect(String(failed[hang.listener]!['error'])).toMatch(/no TLS handshake within 2000 ms/);
      expect(failed[garbage.listener]).toMatchObject({ severity: 'high', reason: 'not-tls' });
      // The good listener is still read alongside the bad ones.
      expect(result.findings.find((f) => f.id === 'listener-cert-expires-soon')?.node).toBe(listener());
    } finally {
      await diagnoseVault.close();
      await store.close();
      await hang.close();
      await garbage.close();
    }
  });

  it('refuses a PKI mount that does not exist before anything is written, and leaves the incident resumable', async () => {
    const before = { cert: readFileSync(certFile), key: readFileSync(keyFile) };
    const result = await cli([
      'runbook',
      'run',
      'cert-expiry',
      '--yes',
      '--incident',
      'inc-cert-nopki',
      '--listener',
      listener(),
      '--pki-mount',
      'no-such-pki',
      '--pki-role',
      'listener',
      '--cert-file',
      certFile,
      '--key-file',
      keyFile,
    ]);
    expect(result.code).toBe(1);
    const last = result.stderr.trim().split('\n').pop()!;
    expect(last).toMatch(
      /^sealwatch: step check-pki failed: PKI mount no-such-pki\/ does not exist \(PKI mounts: pki\); nothing was written/,
    );
    expect(last).toContain('sealwatch incident resume inc-cert-nopki');
    expect(readFileSync(certFile).equals(before.cert)).toBe(true);
    expect(readFileSync(keyFile).equals(before.key)).toBe(true);
    expect((await served(tlsPort)).fingerprint256).toBe(expiringFingerprint);
    const shown = await cli(['incident', 'show', 'inc-cert-nopki', '--json']);
    const steps = shown.json<{ steps: { step_id: string; status: string }[] }>().steps;
    expect(steps.map((s) => [s.step_id, s.status])).toEqual([
      ['diagnose', 'done'],
      ['check-pki', 'failed'],
      ['install-certificate', 'pending'],
      ['reload-server', 'pending'],
      ['verify-certificate', 'pending'],
      ['verify-healthy', 'pending'],
    ]);
  });

  it('a reload that fails leaves the new files in place and the old certificate served; resume reloads and verifies', async () => {
    const node = lab.lab().nodes.find((n) => n.node_id === TLS_NODE)!;
    const marker = join(tlsDir, 'reload-allowed');
    const first = await cli([
      'runbook',
      'run',
      'cert-expiry',
      '--yes',
      '--incident',
      'inc-cert-reload',
      '--listener',
      listener(),
      '--pki-mount',
      'pki',
      '--pki-role',
      'listener',
      '--cert-file',
      certFile,
      '--key-file',
      keyFile,
      '--reload-command',
      `test -e ${marker} && kill -HUP ${node.pid}`,
    ]);
    expect(first.code).toBe(1);
    expect(first.stderr).toMatch(/step reload-server failed: reload command exited 1/);
    const written = new X509Certificate(readFileSync(certFile));
    expect(written.fingerprint256).not.toBe(expiringFingerprint);
    expect(daysLeft(written)).toBeGreaterThan(85);
    // Nothing reloaded: the listener still serves the 5-day certificate; the verify step is what says so.
    expect((await served(tlsPort)).fingerprint256).toBe(expiringFingerprint);

    writeFileSync(marker, '');
    const resumed = await cli(['incident', 'resume', 'inc-cert-reload', '--yes']);
    expect(resumed.code, resumed.stderr.slice(-3000)).toBe(0);
    expect((await served(tlsPort)).fingerprint256).toBe(written.fingerprint256);
    const report = (await cli(['incident', 'report', 'inc-cert-reload', '--json'])).json<{
      state: string;
      steps: { id: string; status: string; attempts: number }[];
    }>();
    expect(report.state).toBe('completed');
    // The certificate was issued once: the resumed run started at the reload.
    expect(report.steps.find((s) => s.id === 'install-certificate')).toMatchObject({
      status: 'done',
      attempts: 1,
    });

    // Put a 5-day certificate back for the next run, the way an operator's old one would be.
    const expiring = await issue('120h');
    writeFileSync(certFile, `${expiring.certificate}\n`);
    writeFileSync(keyFile, `${expiring.private_key}\n`);
    expiringFingerprint = new X509Certificate(expiring.certificate).fingerprint256;
    process.kill(node.pid, 'SIGHUP');
    await waitFor(
      'the 5-day certificate to be served again',
      async () => (await served(tlsPort)).fingerprint256 === expiringFingerprint,
      { timeoutMs: 15_000, intervalMs: 200 },
    );
  });

  it('issues a 90-day certificate from the PKI mount, writes it, SIGHUPs the node, and the listener serves it', async () => {
    const node = lab.lab().nodes.find((n) => n.node_id === TLS_NODE)!;
    const args = [
      'runbook',
      'run',
      'cert-expiry',
      '--listener',
      listener(),
      '--pki-mount',
      'pki',
      '--pki-role',
      'listener',
      '--cert-file',
      certFile,
      '--key-file',
      keyFile,
    ];
    const plan = await cli([...args, '--dry-run']);
    expect(plan.code, plan.stderr).toBe(0);
    // On a lab the node to reload is the one whose configuration reads the certificate file.
    expect(plan.stdout).toContain(`send SIGHUP to pid ${node.pid} (lab ${TLS_NODE})`);
    expect(plan.stdout).toContain(
      'issue a certificate for localhost (SANs 127.0.0.1) from pki/issue/listener, ttl 2160h',
    );
    expect((await served(tlsPort)).fingerprint256).toBe(expiringFingerprint);

    const result = await cli([...args, '--yes', '--incident', 'inc-cert-renew']);
    expect(result.code, result.stderr.slice(-3000)).toBe(0);

    // The real thing: a fresh handshake of our own sees a new certificate valid for months.
    const now = await served(tlsPort);
    expect(now.fingerprint256).not.toBe(expiringFingerprint);
    expect(daysLeft(now)).toBeGreaterThan(25);
    expect(now.issuer).toBe('CN=sealwatch test CA');
    expect(now.subjectAltName).toContain('IP Address:127.0.0.1');
    expect(new X509Certificate(readFileSync(certFile)).fingerprint256).toBe(now.fingerprint256);
    expect(statSync(keyFile).mode & 0o777).toBe(0o600);
    // The same process, reloaded rather than restarted, and the cluster is whole.
    expect(lab.lab().nodes.find((n) => n.node_id === TLS_NODE)!.pid).toBe(node.pid);
    expect(isAlive(node.pid)).toBe(true);
    for (const n of lab.lab().nodes) expect((await vault.health(n.address)).sealed).toBe(false);
    const autopilot = await vault.autopilotState();
    expect(autopilot.healthy).toBe(true);
    expect(autopilot.voters).toHaveLength(3);

    // The private key went to its file and nowhere else: not the output, not the journal.
    const key = readFileSync(keyFile, 'utf8');
    const keyBody = key.split('\n')[5]!;
    expect(keyBody.length).toBeGreaterThan(40);
    expect(result.stdout + result.stderr).not.toContain(keyBody);
    const storeFile = join(lab.dir, 'sealwatch.db');
    for (const file of [storeFile, `${storeFile}-wal`])
      if (existsSync(file)) expect(readFileSync(file).includes(keyBody)).toBe(false);
    const report = await cli(['incident', 'report', 'inc-cert-renew', '--json']);
    expect(report.stdout).not.toContain(keyBody);
    expect(report.json<{ state: string }>().state).toBe('completed');

    const after = await cli([
      'runbook',
      'diagnose',
      'cert-expiry',
      '--json',
      '--listener',
      listener(),
      '--fail-on',
      'high',
    ]);
    const diagnosis = after.json<Diagnosis>();
    const ok = diagnosis.findings.find((f) => f.node === listener())!;
    expect(ok).toMatchObject({ id: 'listener-cert-ok', severity: 'info' });
    expect(ok.evidence['fingerprint_sha256']).toBe(now.fingerprint256);
    // The client certificate is the client's to renew: still reported (medium), not a listener fault.
    expect(diagnosis.healthy).toBe(true);
    expect(after.code).toBe(0);
    expect(diagnosis.findings.find((f) => f.id === 'client-cert-expires-soon')?.severity).toBe('medium');
  });
});
