import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { findBaoBinary } from '../../src/vault/bao-binary.js';
import { freePorts } from '../../src/util/ports.js';
import { spawnDetached, stopProcess } from '../../src/util/processes.js';
import { silentLogger } from '../../src/logging/logger.js';
import { waitFor } from '../../src/util/wait.js';
import { VaultClient } from '../../src/vault/client.js';
import { trackPid, untrackPid } from './cleanup.js';

export interface PlainServer {
  dir: string;
  address: string;
  rootToken: string;
  unsealKeys: string[];
  /** The server process (to send it SIGHUP, which reloads listener certificates). */
  pid: number;
  /** A client for this server with `token` (the initial root token unless given); stop() closes it. */
  client(token?: string): VaultClient;
  stop(): Promise<void>;
}

/**
 * A single OpenBao server as an operator would set one up by hand, not through `sealwatch lab`:
 * its own minimal configuration (raft or file storage, a loopback listener, nothing else),
 * `operator init` with the given shares, and unsealed. No tenants, no snapshot; an audit device
 * only when asked for.
 */
export async function startPlainServer(
  options: {
    shares?: number;
    threshold?: number;
    storage?: 'raft' | 'file';
    /** A file audit device writing here, with the defaults an operator gets (accessors HMAC'd). */
    auditFile?: string;
    /** Also declare a socket audit device towards this host:port (nothing needs to listen for posture). */
    auditSocket?: string;
    /** Listen on every interface (0.0.0.0) instead of loopback, TLS off either way. */
    listenAll?: boolean;
    /** HCL appended to the server configuration as written (e.g. a second, TLS listener). */
    extraConfig?: string;
  } = {},
): Promise<PlainServer> {
  const dir = mkdtempSync(join(tmpdir(), 'sealwatch-plain-'));
  const [apiPort, clusterPort] = await freePorts(2);
  const address = `http://127.0.0.1:${apiPort}`;
  mkdirSync(join(dir, 'data'));
  const storage =
    (options.storage ?? 'raft') === 'raft'
      ? `storage "raft" {\n  path = ${JSON.stringify(join(dir, 'data'))}\n  node_id = "plain"\n}\n`
      : `storage "file" {\n  path = ${JSON.stringify(join(dir, 'data'))}\n}\n`;
  const configFile = join(dir, 'server.hcl');
  writeFileSync(
    configFile,
    `${storage}
listener "tcp" {
  address = "${options.listenAll ? '0.0.0.0' : '127.0.0.1'}:${apiPort}"
  cluster_address = "127.0.0.1:${clusterPort}"
  tls_disable = true
}
api_addr = "${address}"
cluster_addr = "https://127.0.0.1:${clusterPort}"
disable_mlock = true
${options.auditFile ? `audit "file" "file" {\n  options {\n    file_path = ${JSON.stringify(options.auditFile)}\n  }\n}\n` : ''}\
${options.auditSocket ? `audit "socket" "stream" {\n  options {\n    address = "${options.auditSocket}"\n    socket_type = "tcp"\n  }\n}\n` : ''}\
${options.extraConfig ?? ''}`,
  );
  const pid = spawnDetached(findBaoBinary(), ['server', `-config=${configFile}`], join(dir, 'server.log'));
  trackPid(pid);
  const clients: VaultClient[] = [];
  const client = (token?: string) => {
    const c = new VaultClient({
      addresses: [address],
      token,
      timeoutMs: 60_000,
      retries: 2,
      maxConnections: 16,
      logger: silentLogger(),
    });
    clients.push(c);
    return c;
  };
  const stop = async () => {
    await Promise.all(clients.map((c) => c.close().catch(() => undefined)));
    await stopProcess(pid, 5_000);
    untrackPid(pid);
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    const anonymous = client();
    await waitFor('the server to answer', () => anonymous.health(address), {
      timeoutMs: 30_000,
      intervalMs: 100,
    });
    const shares = options.shares ?? 1;
    const init = await anonymous.init(address, {
      secret_shares: shares,
      secret_threshold: options.threshold ?? shares,
    });
    const unsealKeys = init.keys;
    for (const key of unsealKeys.slice(0, options.threshold ?? shares)) await anonymous.unseal(address, key);
    const root = client(init.root_token);
    await waitFor(
      'the server to become active',
      async () => (await root.health(address)).httpStatus === 200 && (await root.tokenLookupSelf()),
      { timeoutMs: 30_000, intervalMs: 100 },
    );
    return { dir, address, rootToken: init.root_token, unsealKeys, pid, client, stop };
  } catch (error) {
    await stop();
    throw error;
  }
}

export interface PlainBaoServer extends PlainServer {
  /** The audit log of the declared file device. */
  auditFile: string;
}

/**
 * The plain server configured wrong (or right) on purpose for the posture checks: 5-of-3 unless
 * asked otherwise, a file audit device unless `noFileAudit`, and `client()` with the root token.
 */
export async function startPlainBaoServer(
  options: {
    shares?: number;
    threshold?: number;
    listenAll?: boolean;
    auditSocket?: string;
    /** Declare no file audit device. */
    noFileAudit?: boolean;
    extraConfig?: string;
  } = {},
): Promise<PlainBaoServer> {
  const logDir = mkdtempSync(join(tmpdir(), 'sealwatch-posture-audit-'));
  const auditFile = join(logDir, 'audit.log');
  const removeLogDir = () => rmSync(logDir, { recursive: true, force: true });
  let server: PlainServer;
  try {
    server = await startPlainServer({
      shares: options.shares ?? 5,
      threshold: options.threshold ?? 3,
      ...(options.listenAll ? { listenAll: true } : {}),
      ...(options.auditSocket ? { auditSocket: options.auditSocket } : {}),
      ...(options.noFileAudit ? {} : { auditFile }),
      ...(options.extraConfig ? { extraConfig: options.extraConfig } : {}),
    });
  } catch (error) {
    removeLogDir();
    throw error;
  }
  return {
    ...server,
    auditFile,
    client: (token) => server.client(token ?? server.rootToken),
    stop: async () => {
      await server.stop();
      removeLogDir();
    },
  };
}
