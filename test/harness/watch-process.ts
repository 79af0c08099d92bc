import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { signWebhook } from '../../src/notify/channels.js';
import type { AlertJson } from '../../src/watch/alert-json.js';
import { ROOT } from './cli.js';
import { trackPid, untrackPid } from './cleanup.js';
import { until } from './raft-faults.js';
import type { startReceiver } from './receiver.js';

export interface WatchNotice {
  version: number;
  kind: 'firing' | 'resolved';
  alert: AlertJson;
}

/** `sealwatch watch` as a real process of the built CLI; stop() ends it (SIGTERM) and waits. */
export interface WatchProcess {
  readonly metricsUrl: string;
  log(): string;
  stop(): Promise<void>;
}

/** Starts the built CLI's `watch` with a config file and waits for its first cycle (/healthz 200). */
export async function startWatchProcess(options: {
  config: string;
  metricsPort: number;
  env?: Record<string, string>;
  args?: readonly string[];
  timeoutMs?: number;
}): Promise<WatchProcess> {
  let log = '';
  const child: ChildProcess = spawn(
    process.execPath,
    [
      join(ROOT, 'dist', 'cli', 'main.js'),
      '--config',
      options.config,
      'watch',
      '--listen',
      `127.0.0.1:${options.metricsPort}`,
      ...(options.args ?? []),
    ],
    { env: { ...process.env, ...options.env }, stdio: ['ignore', 'ignore', 'pipe'] },
  );
  trackPid(child.pid!);
  child.stderr!.setEncoding('utf8').on('data', (d: string) => (log = (log + d).slice(-40_000)));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const metricsUrl = `http://127.0.0.1:${options.metricsPort}`;
  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
    await exited;
    untrackPid(child.pid!);
  };
  try {
    await until(
      'watch /healthz',
      async () => child.exitCode === null && (await fetch(`${metricsUrl}/healthz`)).ok,
      options.timeoutMs ?? 30_000,
    );
  } catch (error) {
    await stop();
    throw new Error(`${(error as Error).message}\nwatch log:\n${log.slice(-4000)}`);
  }
  return { metricsUrl, log: () => log, stop };
}

/** The signed webhook notices a receiver got, each signature checked (it throws on a bad one). */
export function signedNotices(
  receiver: Awaited<ReturnType<typeof startReceiver>>,
  signingKey: string,
): WatchNotice[] {
  return receiver.received().map((r) => {
    const timestamp = Number(r.headers['x-sealwatch-timestamp']);
    if (r.headers['x-sealwatch-signature'] !== signWebhook(signingKey, timestamp, r.body))
      throw new Error(`a notice with a bad signature: ${r.body.slice(0, 200)}`);
    return r.json<WatchNotice>();
  });
}
