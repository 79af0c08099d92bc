import { setTimeout as sleep } from 'node:timers/promises';
import { SealwatchError } from '../errors.js';

export class WaitTimeoutError extends SealwatchError {
  constructor(what: string, timeoutMs: number, last?: unknown) {
    const lastText = last instanceof Error ? ` (last: ${last.message})` : '';
    super(
      'wait_timeout',
      `timed out after ${Math.round(timeoutMs / 1000)} s waiting for ${what}${lastText}`,
      {
        retryable: true,
        cause: last,
      },
    );
  }
}

/**
 * Polls `check` until it returns a value other than undefined/false, or throws after `timeoutMs`.
 * `abort` may throw to stop early (the process being waited on has died).
 */
export async function waitFor<T>(
  what: string,
  check: () => Promise<T | undefined | false>,
  options: { timeoutMs: number; intervalMs?: number; abort?: () => void },
): Promise<T> {
  const deadline = Date.now() + options.timeoutMs;
  let last: unknown;
  for (;;) {
    options.abort?.();
    try {
      const value = await check();
      if (value !== undefined && value !== false) return value;
    } catch (error) {
      last = error;
    }
    if (Date.now() >= deadline) throw new WaitTimeoutError(what, options.timeoutMs, last);
    await sleep(options.intervalMs ?? 100);
  }
}
