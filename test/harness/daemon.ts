import { spawn } from 'node:child_process';
import { rmSync } from 'node:fs';
import { trackPid, untrackPid } from './cleanup.js';

export interface Daemon {
  /** The last 20 kB the server wrote on stderr. */
  log(): string;
  /** SIGTERM, wait for the exit, remove its directory. */
  stop(): Promise<void>;
}

/**
 * Runs a real server in the foreground (sshd -D, named -g, …) for a test: its stderr kept as the
 * log, killed with the test process whatever happens, and `ready(log)` polled until it is true.
 * A server that exits or is not ready in time is killed, its directory removed, and the error
 * carries its log.
 */
export async function startDaemon(
  name: string,
  command: string,
  args: string[],
  options: { dir: string; ready: (log: string) => Promise<boolean> | boolean; timeoutMs: number },
): Promise<Daemon> {
  const child = spawn(command, args, { stdio: ['ignore', 'ignore', 'pipe'] });
  let log = '';
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => {
    log = (log + chunk).slice(-20_000);
  });
  const pid = child.pid;
  if (pid === undefined) throw new Error(`${name} did not start`);
  trackPid(pid);
  let exited = false;
  child.once('exit', () => {
    exited = true;
  });
  const deadline = Date.now() + options.timeoutMs;
  while (!(await options.ready(log))) {
    if (exited || Date.now() > deadline) {
      child.kill('SIGKILL');
      untrackPid(pid);
      rmSync(options.dir, { recursive: true, force: true });
      throw new Error(`${name} did not come up: ${log}`);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  return {
    log: () => log,
    stop: async () => {
      if (!exited) {
        const gone = new Promise((r) => child.once('exit', r));
        child.kill('SIGTERM');
        await gone;
      }
      untrackPid(pid);
      rmSync(options.dir, { recursive: true, force: true });
    },
  };
}
