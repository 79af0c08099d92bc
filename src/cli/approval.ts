import { createInterface } from 'node:readline/promises';
import { approveAll, approveNone, type Approver } from '../playbook/playbook.engine.js';
import type { RunHooks } from '../playbook/incident.service.js';
import { currentUser } from '../playbook/incident.service.js';
import type { CliContext } from './context.js';

/**
 * Asks on the terminal (prompt on stderr, answer on stdin) before a step that needs approval,
 * showing what the step will do. Anything but y/yes declines.
 */
export function terminalApprover(
  input: NodeJS.ReadableStream = process.stdin,
  output: NodeJS.WritableStream = process.stderr,
): Approver {
  return async ({ incidentId, step, plan }) => {
    output.write(`\nincident ${incidentId}: step ${step.id} (${step.title}) needs approval. It will:\n`);
    for (const entry of plan)
      output.write(
        `  ${entry.destructive ? '!' : '-'} ${entry.action}${entry.details ? ` ${JSON.stringify(entry.details)}` : ''}\n`,
      );
    const rl = createInterface({ input, output, terminal: false });
    try {
      const answer = (await rl.question(`approve step ${step.id}? [y/N] `)).trim().toLowerCase();
      return answer === 'y' || answer === 'yes'
        ? { approved: true, by: `${currentUser()} (terminal)` }
        : { approved: false, reason: 'declined' };
    } finally {
      rl.close();
    }
  };
}

/**
 * The run hooks every playbook command uses: --yes approves all, a terminal asks, neither stops at
 * the first step that needs approval; SIGINT/SIGTERM stop at the next step boundary. Call dispose()
 * when the run ends.
 */
export function playbookHooks(
  ctx: CliContext,
  options: { yes?: boolean; takeOver?: boolean },
): { hooks: RunHooks; dispose: () => void } {
  const controller = new AbortController();
  const stop = () => {
    ctx.progress('stopping after the step in progress (the incident stays resumable)');
    controller.abort();
  };
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
  const interactive = Boolean(process.stdin.isTTY && process.stderr.isTTY);
  const approve = options.yes ? approveAll('--yes') : interactive ? terminalApprover() : approveNone;
  return {
    hooks: {
      approve,
      signal: controller.signal,
      progress: (message) => ctx.progress(message),
      takeOver: options.takeOver ?? false,
    },
    dispose: () => {
      process.off('SIGINT', stop);
      process.off('SIGTERM', stop);
    },
  };
}
