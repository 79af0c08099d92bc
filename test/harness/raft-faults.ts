import { createServer, type Server, type Socket } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { loadConfig } from '../../src/config/load.js';
import { errorMessage } from '../../src/errors.js';
import { silentLogger } from '../../src/logging/logger.js';
import type { LabNode } from '../../src/lab/lab-file.js';
import { startLabNode } from '../../src/lab/lab.service.js';
import { isAlive } from '../../src/util/processes.js';
import { diagnose, type Runbook } from '../../src/runbooks/runbook.js';
import { Store } from '../../src/store/store.js';
import { VaultClient } from '../../src/vault/client.js';
import type { RunbookDiagnosis } from '../../src/runbooks/runbook.js';
import type { TestLab } from './bao-lab.js';
import type { CliResult } from './cli.js';
import { labSite } from '../../src/lab/lab-site.js';

/** Faults for the raft runbooks (leader-election, storage), made for real on a test lab. */

export type Diagnosis = RunbookDiagnosis;

/** `runbook diagnose NAME --json [--fail-on S]` through a test's `cli`, with the parsed diagnosis. */
export function diagnoser(cli: (args: string[]) => Promise<CliResult>, name: string) {
  return async (failOn?: string) => {
    const result = await cli([
      'runbook',
      'diagnose',
      name,
      '--json',
      ...(failOn ? ['--fail-on', failOn] : []),
    ]);
    return { result, diagnosis: result.json<Diagnosis>() };
  };
}

export async function until<T>(
  what: string,
  check: () => Promise<T | undefined | false>,
  timeoutMs = 60_000,
) {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const value = await check();
      if (value !== undefined && value !== false) return value;
    } catch (error) {
      last = error;
    }
    if (Date.now() > deadline)
      throw new Error(`timed out waiting for ${what}${last ? `: ${errorMessage(last)}` : ''}`);
    await sleep(250);
  }
}

/** The lab node that is active now. */
export async function activeNode(lab: TestLab, vault: VaultClient): Promise<LabNode> {
  return until('an active node', async () => {
    for (const n of lab.lab().nodes) {
      const h = await vault.health(n.address).catch(() => undefined);
      if (h && h.httpStatus === 200) return n;
    }
    return undefined;
  });
}

/** SIGKILL, and wait until the process is gone. */
export async function killNode(node: LabNode): Promise<void> {
  process.kill(node.pid, 'SIGKILL');
  await until(`${node.node_id} to exit`, async () => !isAlive(node.pid), 10_000);
}

export const restartNode = (lab: TestLab, nodeId: string) =>
  startLabNode(lab.dir, nodeId, { logger: silentLogger() });

/** Exactly one active node, every configured node a voter, autopilot healthy: asked of the real cluster. */
export async function raftIsHealthy(lab: TestLab, vault: VaultClient): Promise<boolean> {
  const nodes = lab.lab().nodes;
  const health = await Promise.all(nodes.map((n) => vault.health(n.address).catch(() => undefined)));
  if (health.some((h) => !h || h.sealed)) return false;
  if (health.filter((h) => h!.httpStatus === 200).length !== 1) return false;
  const config = await vault.raftConfiguration();
  const state = await vault.autopilotState();
  return (
    state.healthy &&
    config.config.servers.length === nodes.length &&
    config.config.servers.every((s) => s.voter) &&
    Object.values(state.servers).every((s) => s.healthy) &&
    state.voters.length === nodes.length
  );
}

/** A TCP server on 127.0.0.1 that accepts and then either never answers or answers garbage. */
export async function badNode(
  kind: 'hang' | 'garbage',
): Promise<{ address: string; close(): Promise<void> }> {
  const sockets = new Set<Socket>();
  const server: Server = createServer((socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => undefined);
    if (kind === 'garbage') socket.end('\u0000\u0001 not http at all\r\n\r\n');
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as { port: number }).port;
  return {
    address: `http://127.0.0.1:${port}`,
    close: () =>
      new Promise((resolve) => {
        sockets.forEach((s) => s.destroy());
        server.close(() => resolve());
      }),
  };
}

/**
 * Runs a runbook's diagnosis in this process, as `runbook diagnose` does (2.5 s per request, no
 * retries), and times it: the CLI's own start-up on a loaded 2-core machine is not the diagnosis.
 */
export async function timedDiagnosis<O extends Record<string, unknown>>(
  lab: TestLab,
  runbook: Runbook<O>,
  options: Record<string, unknown> = {},
  extraAddresses: string[] = [],
): Promise<{ seconds: number; diagnosis: Diagnosis }> {
  const config = loadConfig({ config: lab.configFile }, {}, lab.dir);
  const vault = new VaultClient({
    addresses: [...config.vault.addresses, ...extraAddresses],
    token: lab.lab().root_token,
    timeoutMs: 2_500,
    retries: 0,
    maxConnections: config.vault.maxConnections,
    logger: silentLogger(),
  });
  const store = await Store.open(config.store.url);
  try {
    const started = performance.now();
    const diagnosis = await diagnose(
      runbook,
      {
        vault,
        store,
        config,
        logger: silentLogger(),
        site: labSite(config.lab?.file, { logger: silentLogger() }),
      },
      runbook.options.parse(options),
    );
    return { seconds: (performance.now() - started) / 1000, diagnosis };
  } finally {
    await vault.close();
    await store.close();
  }
}
