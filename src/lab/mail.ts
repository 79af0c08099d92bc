import { mkdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { waitFor } from '../util/wait.js';
import type { LabFile } from './lab-file.js';
import { acceptsConnections, freePort } from '../util/ports.js';
import { isAlive, spawnDetached, stopProcess } from '../util/processes.js';

export const LAB_MAIL_FROM = 'sealwatch lab <security@lab.sealwatch.invalid>';

export const labInboxPath = (dir: string) => join(dir, 'mail', 'inbox.jsonl');

/**
 * node + the catcher program beside this code: the built .js (dist/cli/mail-catcher.main.js beside
 * the bundled CLI), or the .ts through tsx when running from source.
 */
function catcherCommand(): string[] {
  const here = fileURLToPath(import.meta.url);
  return here.endsWith('.ts')
    ? ['--import', 'tsx', join(dirname(here), 'mail-catcher.main.ts')]
    : [join(dirname(here), 'mail-catcher.main.js')];
}

/**
 * Starts the lab's SMTP catcher detached (so it outlives `lab up`), on `port` or a free one, and
 * waits until it accepts connections.
 */
export async function startLabMailCatcher(dir: string, port?: number): Promise<NonNullable<LabFile['mail']>> {
  mkdirSync(join(dir, 'mail'), { recursive: true, mode: 0o700 });
  const chosen = port ?? (await freePort());
  const inbox = labInboxPath(dir);
  const pid = spawnDetached(
    process.execPath,
    [...catcherCommand(), '--port', String(chosen), '--inbox', inbox],
    join(dir, 'mail', 'catcher.log'),
  );
  await waitFor(`the lab mail catcher on 127.0.0.1:${chosen}`, () => acceptsConnections(chosen), {
    timeoutMs: 15_000,
    intervalMs: 100,
    abort: () => {
      if (!isAlive(pid))
        throw new Error(`the lab mail catcher exited at start (see ${join(dir, 'mail', 'catcher.log')})`);
    },
  });
  return { port: chosen, pid };
}

/** Restarts the catcher of a lab on its recorded port when it is not running. */
export async function ensureLabMailCatcher(dir: string, lab: LabFile): Promise<LabFile> {
  if (lab.mail && isAlive(lab.mail.pid)) return lab;
  return { ...lab, mail: await startLabMailCatcher(dir, lab.mail?.port) };
}

export async function stopLabMailCatcher(
  lab: LabFile,
): Promise<'stopped' | 'killed' | 'not-running' | undefined> {
  return lab.mail ? stopProcess(lab.mail.pid, 5_000) : undefined;
}

/** The lab config's notify section: every notice goes to the catcher. */
export function labNotifyConfig(lab: LabFile): Record<string, unknown> | undefined {
  if (!lab.mail) return undefined;
  return {
    from: LAB_MAIL_FROM,
    smtp: { host: '127.0.0.1', port: lab.mail.port, starttls: 'none' },
    retries: { attempts: 2, backoff_ms: 200 },
  };
}
