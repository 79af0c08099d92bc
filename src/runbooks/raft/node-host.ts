import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, renameSync } from 'node:fs';
import { dirname } from 'node:path';
import { SealwatchError } from '../../errors.js';
import { readLabFile, type LabFile } from '../../lab/lab-file.js';
import { startLabNode } from '../../lab/lab.service.js';
import { isAlive, stopProcess } from '../../lab/processes.js';
import type { RunbookDeps } from '../runbook.js';
import type { Member } from './raft-view.js';

/**
 * What a runbook can do to the machine a node runs on. On a lab (config `lab.file`) everything:
 * the lab file knows each node's process, data directory and raft identity. Elsewhere a restart
 * command if the operator gives one; moving raft data aside is the operator's, and the step that
 * needs it says exactly what to do and is resumed afterwards.
 */
export interface NodeHost {
  /** The raft identity of each configured node that the host knows (lab: node id and cluster address). */
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

function labOf(deps: RunbookDeps): { dir: string; lab: LabFile } | undefined {
  const file = deps.config.lab?.file;
  if (!file || !existsSync(file)) return undefined;
  return { dir: dirname(file), lab: readLabFile(dirname(file)) };
}

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
 * what a lab file says; `restartCommand` starts a node outside a lab (`{node}` = its address).
 */
export function nodeHost(
  deps: RunbookDeps,
  options: { dataDirs?: Readonly<Record<string, string>>; restartCommand?: string | undefined } = {},
): NodeHost {
  const found = labOf(deps);
  const labNode = (node: string) => found?.lab.nodes.find((n) => trim(n.address) === trim(node));
  const given = (node: string) =>
    options.dataDirs?.[trim(node)] ?? options.dataDirs?.[labNode(node)?.node_id ?? '\u0000'];
  return {
    members: () =>
      (found?.lab.nodes ?? []).map((n) => ({
        node: trim(n.address),
        clusterAddress: n.cluster_address.replace(/^[a-z]+:\/\//i, ''),
        nodeId: n.node_id,
      })),
    dataDir: (node) => given(node) ?? labNode(node)?.data_dir,
    canStart: (node) => labNode(node) !== undefined || options.restartCommand !== undefined,
    start: async (node) => {
      const n = labNode(node);
      if (found && n) {
        await startLabNode(found.dir, n.node_id, { logger: deps.logger });
        return;
      }
      if (options.restartCommand) return runNodeCommand(options.restartCommand, node);
      throw new ManualHostStepError(
        node,
        'start the OpenBao process on that host (or give --restart-command)',
      );
    },
    reset: async (node) => {
      const n = labNode(node);
      if (!found || !n) {
        const dir = given(node);
        throw new ManualHostStepError(
          node,
          `its raft data is stale (the cluster removed it): stop the server, move its raft data directory${dir ? ` ${dir}` : ''} aside, start it again`,
        );
      }
      // The lab file is re-read: a node restarted since this process began has a new pid.
      const current = readLabFile(found.dir).nodes.find((x) => x.node_id === n.node_id) ?? n;
      if (isAlive(current.pid)) await stopProcess(current.pid, 10_000);
      const movedTo = `${current.data_dir}.stale-${new Date().toISOString().replace(/[:.]/g, '-')}`;
      if (existsSync(current.data_dir)) renameSync(current.data_dir, movedTo);
      mkdirSync(current.data_dir, { recursive: true, mode: 0o700 });
      await startLabNode(found.dir, n.node_id, { logger: deps.logger });
      return { moved_to: movedTo };
    },
  };
}
