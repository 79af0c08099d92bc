import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { SealwatchError, describeSystemError } from '../../errors.js';
import type { NodeHostControl } from '../../playbook/site.js';

/**
 * How the server is told to read its certificate again. `lab`: the nodes whose processes the site
 * controls (only a lab offers that). OpenBao and Vault reload listener
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

/** The site's nodes whose server configuration reads `certFile` (the site knows their pids). */
function nodesReading(control: NodeHostControl, certFile: string): { nodeId: string; pid: number }[] {
  return control.nodes().filter((n) => {
    try {
      return readFileSync(n.configFile, 'utf8').includes(JSON.stringify(certFile));
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
  nodeHosts?: NodeHostControl | undefined;
}): ReloadPlan {
  if (options.reloadCommand) return { kind: 'command', command: options.reloadCommand };
  if (options.reloadPid && options.reloadPid.length > 0)
    return { kind: 'signal', pids: [...options.reloadPid], source: 'flag' };
  const nodes = options.nodeHosts ? nodesReading(options.nodeHosts, options.certFile) : [];
  if (nodes.length > 0)
    return {
      kind: 'signal',
      pids: nodes.map((n) => n.pid),
      source: 'lab',
      nodes: nodes.map((n) => n.nodeId),
    };
  throw new ReloadError(
    `nothing to reload after writing ${options.certFile}: give --reload-pid PID (the server process) or --reload-command CMD${options.nodeHosts ? ' (no lab node configuration reads that file)' : ''}; nothing was written`,
  );
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
          `could not send SIGHUP to pid ${pid}: ${describeSystemError(error)} (is the server running, as this user?)`,
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
