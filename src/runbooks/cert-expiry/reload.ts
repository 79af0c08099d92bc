import { spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { SealwatchError } from '../../errors.js';
import { readLabFile } from '../../lab/lab-file.js';

/**
 * How the server is told to read its certificate again. OpenBao and Vault reload listener
 * certificates on SIGHUP (a new listener stanza needs a restart; a new certificate does not).
 */
export type ReloadPlan =
  | { kind: 'signal'; pids: number[]; source: 'flag' | 'lab'; nodes?: string[] }
  | { kind: 'command'; command: string };

export class ReloadError extends SealwatchError {
  constructor(message: string, options: ConstructorParameters<typeof SealwatchError>[2] = {}) {
    super('reload_failed', message, options);
  }
}

/** The lab nodes whose server configuration reads `certFile` (lab.json has their pids). */
function labNodesReading(labFile: string, certFile: string): { node_id: string; pid: number }[] {
  if (!existsSync(labFile)) return [];
  const lab = readLabFile(dirname(labFile));
  return lab.nodes.filter((n) => {
    try {
      return readFileSync(n.config_file, 'utf8').includes(JSON.stringify(certFile));
    } catch {
      // A lab node whose configuration cannot be read is not known to read this certificate.
      return false;
    }
  });
}

export function reloadPlan(options: {
  reloadPid?: readonly number[] | undefined;
  reloadCommand?: string | undefined;
  certFile: string;
  labFile?: string | undefined;
}): ReloadPlan {
  if (options.reloadCommand) return { kind: 'command', command: options.reloadCommand };
  if (options.reloadPid && options.reloadPid.length > 0)
    return { kind: 'signal', pids: [...options.reloadPid], source: 'flag' };
  const nodes = options.labFile ? labNodesReading(options.labFile, options.certFile) : [];
  if (nodes.length > 0)
    return {
      kind: 'signal',
      pids: nodes.map((n) => n.pid),
      source: 'lab',
      nodes: nodes.map((n) => n.node_id),
    };
  throw new ReloadError(
    `nothing to reload after writing ${options.certFile}: give --reload-pid PID (the server process) or --reload-command CMD${options.labFile ? ' (no lab node configuration reads that file)' : ''}; nothing was written`,
  );
}

export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    // EPERM: the process exists but belongs to another user; kill would fail the same way later.
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

export function describeReload(plan: ReloadPlan): string {
  return plan.kind === 'command'
    ? `run ${plan.command}`
    : `send SIGHUP to pid ${plan.pids.join(', ')}${plan.nodes ? ` (lab ${plan.nodes.join(', ')})` : ''}`;
}

export async function reload(plan: ReloadPlan): Promise<void> {
  if (plan.kind === 'signal') {
    for (const pid of plan.pids) {
      try {
        process.kill(pid, 'SIGHUP');
      } catch (error) {
        throw new ReloadError(
          `could not send SIGHUP to pid ${pid}: ${(error as NodeJS.ErrnoException).code ?? String(error)} (is the server running, as this user?)`,
          { cause: error },
        );
      }
    }
    return;
  }
  await new Promise<void>((resolvePromise, reject) => {
    const child = spawn(plan.command, { shell: true, stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (chunk: Buffer) => (stderr = (stderr + chunk.toString()).slice(-2000)));
    child.on('error', reject);
    child.on('exit', (code) =>
      code === 0
        ? resolvePromise()
        : reject(
            new ReloadError(`reload command exited ${code}: ${stderr.trim().split('\n').pop() ?? ''}`.trim()),
          ),
    );
  });
}
