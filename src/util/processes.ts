import { spawn } from 'node:child_process';
import { closeSync, openSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { systemErrorCode } from '../errors.js';

/** Starts a long-lived server detached from this process, its output appended to `logFile`. */
export function spawnDetached(
  command: string,
  args: string[],
  logFile: string,
  env: NodeJS.ProcessEnv = process.env,
) {
  const out = openSync(logFile, 'a');
  try {
    const child = spawn(command, args, { detached: true, stdio: ['ignore', out, out], env });
    if (child.pid === undefined) throw new Error(`${command} did not start`);
    child.unref();
    return child.pid;
  } finally {
    closeSync(out);
  }
}

export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    // EPERM: the process exists but belongs to another user; ESRCH: it is gone.
    return systemErrorCode(error) === 'EPERM';
  }
}

/** SIGTERM, then SIGKILL if the process is still there after `graceMs`. Answers how it ended. */
export async function stopProcess(
  pid: number,
  graceMs = 10_000,
): Promise<'stopped' | 'killed' | 'not-running'> {
  if (!isAlive(pid)) return 'not-running';
  try {
    process.kill(pid, 'SIGTERM');
  } catch {
    // ESRCH: it exited between the check and the signal.
    return 'not-running';
  }
  const deadline = Date.now() + graceMs;
  while (Date.now() < deadline) {
    if (!isAlive(pid)) return 'stopped';
    await sleep(50);
  }
  try {
    process.kill(pid, 'SIGKILL');
  } catch {
    // ESRCH: it exited during the grace period.
    return 'stopped';
  }
  return 'killed';
}
