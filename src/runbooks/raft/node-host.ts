import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, renameSync } from 'node:fs';
import { SealwatchError } from '../../errors.js';
import type { RunbookDeps } from '../runbook.js';
import type { Member } from './raft-view.js';

/**
 * What a runbook can do to the machine a node runs on. Where the site controls the node's process
 * (a lab: lab.json knows each node's process, data directory and raft identity) everything.
 * Elsewhere a restart command if the operator gives one; moving raft data aside is the operator's,
 * and the step that needs it says exactly what to do and is resumed afterwards.
 */
export interface NodeHost {
  /** The raft identity of each configured node the site knows (node id and cluster address). */
  members(): Member[];
  /** The node's raft data directory, if known. */
  dataDir(node: string): string | undefined;
  /** Whether `start` can bring a stopped node back. */
  canStart(node: string): boolean;
  start(node: string): Promise<void>;
  /**
   * Stops the node, moves its raft data directory aside (kept as evidence, never deleted) and
   * starts it empty, so that it can join again. Answers where the old data went.
   */
  reset(node: string): Promise<{ moved_to: string }>;
}

export class ManualHostStepError extends SealwatchError {
  constructor(node: string, what: string) {
    super(
      'manual_host_step',
      `${node}: ${what}; then resume this incident (sealwatch incident resume <id>) — the step re-checks the node and continues`,
      { details: { node } },
    );
  }
}

const trim = (a: string) => a.replace(/\/+$/, '');

/** Runs an operator's node command (`{node}` = the node's address); fails with the last line it printed. */
export function runNodeCommand(command: string, node: string): Promise<void> {
  return new Promise((resolvePromise, reject) => {
    const child = spawn(command.replaceAll('{node}', node), {
      shell: true,
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let stderr = '';
    child.stderr.on('data', (chunk: Buffer) => (stderr = (stderr + chunk.toString()).slice(-2000)));
    child.on('error', reject);
    child.on('exit', (code) =>
      code === 0
        ? resolvePromise()
        : reject(
            new SealwatchError(
              'restart_failed',
              `restart command for ${node} exited ${code}: ${stderr.trim().split('\n').pop() ?? ''}`,
            ),
          ),
    );
  });
}

/**
 * The host of the configured nodes. `dataDirs` (from --data-dir NODE=PATH) override or add to
 * what the site (a lab file) says; `restartCommand` starts a node outside a lab (`{node}` = its
 * address).
 */
export function nodeHost(
  deps: RunbookDeps,
  options: { dataDirs?: Readonly<Record<string, string>>; restartCommand?: string | undefined } = {},
): NodeHost {
  const control = deps.site?.nodeHosts;
  // Read once, as the lab file was: node ids, addresses and data directories do not change.
  const hosted = control?.nodes() ?? [];
  const hostedNode = (node: string) => hosted.find((n) => trim(n.address) === trim(node));
  const given = (node: string) =>
    options.dataDirs?.[trim(node)] ?? options.dataDirs?.[hostedNode(node)?.nodeId ?? '\u0000'];
  return {
    members: () =>
      hosted.map((n) => ({
        node: trim(n.address),
        clusterAddress: n.clusterAddress.replace(/^[a-z]+:\/\//i, ''),
        nodeId: n.nodeId,
      })),
    dataDir: (node) => given(node) ?? hostedNode(node)?.dataDir,
    canStart: (node) => hostedNode(node) !== undefined || options.restartCommand !== undefined,
    start: async (node) => {
      const n = hostedNode(node);
      if (control && n) {
        await control.start(n.nodeId);
        return;
      }
      if (options.restartCommand) return runNodeCommand(options.restartCommand, node);
      throw new ManualHostStepError(
        node,
        'start the OpenBao process on that host (or give --restart-command)',
      );
    },
    reset: async (node) => {
      const n = hostedNode(node);
      if (!control || !n) {
        const dir = given(node);
        throw new ManualHostStepError(
          node,
          `its raft data is stale (the cluster removed it): stop the server, move its raft data directory${dir ? ` ${dir}` : ''} aside, start it again`,
        );
      }
      // The control stops the node's process as it is now: one restarted since has a new pid.
      await control.stop(n.nodeId, 10_000);
      const movedTo = `${n.dataDir}.stale-${new Date().toISOString().replace(/[:.]/g, '-')}`;
      if (existsSync(n.dataDir)) renameSync(n.dataDir, movedTo);
      mkdirSync(n.dataDir, { recursive: true, mode: 0o700 });
      await control.start(n.nodeId);
      return { moved_to: movedTo };
    },
  };
}
