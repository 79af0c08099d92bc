import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { silentLogger } from '../../src/logging/logger.js';
import { freePorts } from '../../src/util/ports.js';
import { isAlive, spawnDetached, stopProcess } from '../../src/util/processes.js';
import { waitFor } from '../../src/util/wait.js';
import { findBaoBinary } from '../../src/vault/bao-binary.js';
import { VaultClient } from '../../src/vault/client.js';
import { trackPid, untrackPid } from './cleanup.js';

export interface PlainBaoServer {
  address: string;
  dir: string;
  /** The audit log of the declared file device. */
  auditFile: string;
  rootToken: string;
  /** A client for this server with `token` (the root token by default); closed by stop(). */
  client(token?: string): VaultClient;
  stop(): Promise<void>;
}

/**
 * One OpenBao in server mode on raft storage (OpenBao has no file storage), Shamir-initialised with the shares and threshold
 * asked for and unsealed, with the listener and declared audit devices given: a server configured
 * wrong (or right) on purpose for the posture checks. Not a lab: no raft, no tenants, no seeding.
 */
export async function startPlainBaoServer(
  options: {
    shares?: number;
    threshold?: number;
    /** Listen on every interface (0.0.0.0) instead of loopback, TLS off either way. */
    listenAll?: boolean;
    /** Also declare a socket audit device towards this host:port (nothing needs to listen for posture). */
    auditSocket?: string;
    /** Declare no file audit device. */
    noFileAudit?: boolean;
  } = {},
): Promise<PlainBaoServer> {
  const dir = mkdtempSync(join(tmpdir(), 'sealwatch-posture-'));
  const data = join(dir, 'data');
  mkdirSync(data, { mode: 0o700 });
  const [port, clusterPort] = await freePorts(2);
  const address = `http://127.0.0.1:${port!}`;
  const auditFile = join(dir, 'audit.log');
  const audit = [
    options.noFileAudit ? '' : `audit "file" "file" {\n  options {\n    file_path = "${auditFile}"\n  }\n}\n`,
    options.auditSocket
      ? `audit "socket" "stream" {\n  options {\n    address = "${options.auditSocket}"\n    socket_type = "tcp"\n  }\n}\n`
      : '',
  ].join('');
  const config = join(dir, 'config.hcl');
  writeFileSync(
    config,
    `storage "raft" {\n  path = "${data}"\n  node_id = "posture"\n}\n` +
      `listener "tcp" {\n  address = "${options.listenAll ? '0.0.0.0' : '127.0.0.1'}:${port!}"\n  tls_disable = true\n}\n` +
      `api_addr = "${address}"\ncluster_addr = "http://127.0.0.1:${clusterPort!}"\nlog_level = "warn"\n${audit}`,
  );
  const logger = silentLogger();
  const clients: VaultClient[] = [];
  const client = (token?: string) => {
    const c = new VaultClient({
      addresses: [address],
      token,
      timeoutMs: 30_000,
      retries: 1,
      maxConnections: 8,
      logger,
    });
    clients.push(c);
    return c;
  };
  const pid = spawnDetached(findBaoBinary(), ['server', `-config=${config}`], join(dir, 'server.log'));
  trackPid(pid);
  const stop = async () => {
    // Clients of a server being stopped: a failed close leaves nothing that killing the server does not end.
    await Promise.all(clients.map((c) => c.close().catch(() => undefined)));
    if (isAlive(pid)) await stopProcess(pid, 5_000);
    untrackPid(pid);
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    const probe = client();
    await waitFor(`OpenBao at ${address}`, () => probe.sealStatus(), { timeoutMs: 30_000, intervalMs: 100 });
    const init = await probe.init(address, {
      secret_shares: options.shares ?? 5,
      secret_threshold: options.threshold ?? 3,
    });
    for (const key of init.keys.slice(0, options.threshold ?? 3)) await probe.unseal(address, key);
    const root = client(init.root_token);
    await waitFor(`OpenBao at ${address} to become active`, () => root.tokenLookupSelf(), {
      timeoutMs: 30_000,
      intervalMs: 200,
    });
    return {
      address,
      dir,
      auditFile,
      rootToken: init.root_token,
      client: (t) => client(t ?? init.root_token),
      stop,
    };
  } catch (error) {
    await stop();
    throw error;
  }
}
