import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { findBaoBinary } from '../vault/bao-binary.js';
import { renderNodeConfig } from '../vault/node-config.js';
import { freePorts } from '../util/ports.js';
import { isAlive, spawnDetached, stopProcess } from '../util/processes.js';
import type { Logger } from '../logging/logger.js';
import { waitFor } from '../util/wait.js';
import { VaultClient } from '../vault/client.js';
import { BackupError } from './backup.errors.js';

const START_TIMEOUT_MS = 45_000;

export interface ThrowawayServer {
  readonly address: string;
  readonly dir: string;
  /** The server's process id while it runs. */
  pid(): number;
  /** A client for this server only, with `token` if given; closed by stop(). */
  client(token?: string): VaultClient;
  /** Stops the process and starts it again on the same data (a restored node re-reads its seal configuration). */
  restart(): Promise<void>;
  /** Stops the server and removes its directory; safe to call more than once. */
  stop(): Promise<void>;
  /** The same at once, synchronously: for a signal or process exit. */
  disposeSync(): void;
}

/**
 * A single-node OpenBao in server mode (raft, loopback, free ports) in a new temp directory, for a
 * restore drill: the node configuration a lab uses (src/vault/node-config.ts) without audit device
 * or peers, with the unauthenticated generate-root endpoints served so a token can be made on the
 * restored data.
 */
export async function startThrowawayServer(deps: {
  logger: Logger;
  env?: Readonly<Record<string, string | undefined>>;
}): Promise<ThrowawayServer> {
  const bao = findBaoBinary(deps.env);
  const dir = mkdtempSync(join(tmpdir(), 'sealwatch-restore-'));
  const clients: VaultClient[] = [];
  let pid: number | undefined;
  let stopped = false;

  const disposeSync = () => {
    if (stopped) return;
    stopped = true;
    if (pid !== undefined && isAlive(pid)) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // already gone
      }
    }
    rmSync(dir, { recursive: true, force: true });
  };
  // A crash or process.exit between start and stop must not leave a server behind.
  process.once('exit', disposeSync);

  try {
    const dataDir = join(dir, 'data');
    mkdirSync(dataDir, { mode: 0o700 });
    const [apiPort, clusterPort] = await freePorts(2);
    const address = `http://127.0.0.1:${apiPort!}`;
    const configFile = join(dir, 'config.hcl');
    const logFile = join(dir, 'server.log');
    writeFileSync(
      configFile,
      renderNodeConfig({
        nodeId: 'restore',
        dataDir,
        apiPort: apiPort!,
        clusterPort: clusterPort!,
        peers: [],
        unauthenticatedGenerateRoot: true,
      }),
      { mode: 0o600 },
    );
    const probe = new VaultClient({
      addresses: [address],
      timeoutMs: 5_000,
      retries: 0,
      maxConnections: 2,
      logger: deps.logger,
    });
    clients.push(probe);
    const spawnAndWait = async () => {
      pid = spawnDetached(bao, ['server', `-config=${configFile}`], logFile);
      const started = pid;
      await waitFor(`the throwaway OpenBao at ${address} to answer`, () => probe.health(address), {
        timeoutMs: START_TIMEOUT_MS,
        intervalMs: 100,
        abort: () => {
          if (!isAlive(started))
            throw new BackupError(`the throwaway OpenBao server exited at start: ${lastLogLine(logFile)}`);
        },
      });
    };
    await spawnAndWait();
    return {
      address,
      dir,
      pid: () => pid!,
      client: (token) => {
        const client = new VaultClient({
          addresses: [address],
          token,
          timeoutMs: 30_000,
          retries: 2,
          maxConnections: 16,
          logger: deps.logger,
        });
        clients.push(client);
        return client;
      },
      restart: async () => {
        await stopProcess(pid!, 10_000);
        await spawnAndWait();
      },
      stop: async () => {
        // Closing clients of a server being stopped: a failed close leaves nothing behind that stop does not end.
        await Promise.all(clients.map((c) => c.close().catch(() => undefined)));
        if (!stopped && pid !== undefined) await stopProcess(pid, 5_000);
        disposeSync();
        process.off('exit', disposeSync);
      },
      disposeSync,
    };
  } catch (error) {
    // Closing clients of a server being stopped: a failed close leaves nothing behind that stop does not end.
    await Promise.all(clients.map((c) => c.close().catch(() => undefined)));
    if (pid !== undefined) await stopProcess(pid, 5_000);
    disposeSync();
    process.off('exit', disposeSync);
    throw error;
  }
}

function lastLogLine(file: string): string {
  try {
    const lines = readFileSync(file, 'utf8').trim().split('\n');
    return lines.filter((l) => /error|Error|failed/.test(l)).pop() ?? lines.pop() ?? '(empty log)';
  } catch {
    // Only decorates a start failure that is reported anyway; no log file is a fact worth saying.
    return '(no log)';
  }
}
