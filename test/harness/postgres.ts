import { execFileSync, spawnSync } from 'node:child_process';
import {
  chownSync,
  existsSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { freePort } from '../../src/util/ports.js';
import { trackPid, untrackPid } from './cleanup.js';

export interface TestPostgres {
  /** Superuser URL with password authentication over TCP on 127.0.0.1. */
  url: string;
  port: number;
  superuser: string;
  password: string;
  /** URL for another role/database on the same server. */
  urlFor(user: string, password: string, database?: string): string;
  /** Stops the server, keeping its data (the store briefly unavailable); resume() starts it again. */
  halt(): void;
  resume(): void;
  stop(): Promise<void>;
}

function postgresBinDir(): string {
  const explicit = process.env['SEALWATCH_PG_BIN'];
  if (explicit) return explicit;
  const root = '/usr/lib/postgresql';
  if (existsSync(root)) {
    const versions = readdirSync(root)
      .filter((v) => existsSync(join(root, v, 'bin', 'initdb')))
      .sort((a, b) => Number(b) - Number(a));
    if (versions[0]) return join(root, versions[0], 'bin');
  }
  throw new Error(
    'PostgreSQL server binaries not found: apt-get install postgresql, or set SEALWATCH_PG_BIN',
  );
}

/**
 * A throwaway PostgreSQL server from Debian's packages: initdb in a temp dir, scram-sha-256 over
 * TCP on a free loopback port, fsync off. PostgreSQL refuses to run as root, so as root it runs
 * as the `postgres` user that the Debian package creates.
 */
export async function startPostgres(): Promise<TestPostgres> {
  const bin = postgresBinDir();
  const dir = mkdtempSync(join(tmpdir(), 'sealwatch-pg-'));
  const data = join(dir, 'data');
  const port = await freePort();
  const superuser = 'sealwatch';
  const password = randomBytes(12).toString('hex');
  const asRoot = process.getuid?.() === 0;
  const owner = asRoot ? Number(execFileSync('id', ['-u', 'postgres']).toString().trim()) : undefined;
  if (owner !== undefined) chownSync(dir, owner, owner);
  const run = (command: string, args: string[]) => {
    const full = join(bin, command);
    const result = asRoot
      ? spawnSync('runuser', ['-u', 'postgres', '--', full, ...args], { encoding: 'utf8' })
      : spawnSync(full, args, { encoding: 'utf8' });
    if (result.status !== 0)
      throw new Error(`${command} failed (${result.status}): ${result.stderr || result.stdout}`);
  };
  const pwfile = join(dir, 'pw');
  writeFileSync(pwfile, password + '\n', { mode: 0o600 });
  if (owner !== undefined) chownSync(pwfile, owner, owner);
  run('initdb', [
    '-D',
    data,
    '-U',
    superuser,
    `--pwfile=${pwfile}`,
    '--auth-local=trust',
    '--auth-host=scram-sha-256',
    '-E',
    'UTF8',
  ]);
  rmSync(pwfile);
  const start = () => {
    run('pg_ctl', [
      '-D',
      data,
      '-l',
      join(dir, 'server.log'),
      '-o',
      `-c listen_addresses=127.0.0.1 -p ${port} -k ${dir} -c fsync=off -c synchronous_commit=off -c full_page_writes=off`,
      '-w',
      'start',
    ]);
    const started = Number(readFileSync(join(data, 'postmaster.pid'), 'utf8').split('\n')[0]);
    trackPid(started);
    return started;
  };
  let pid = start();
  const urlFor = (user: string, pw: string, database = 'postgres') =>
    `postgres://${encodeURIComponent(user)}:${encodeURIComponent(pw)}@127.0.0.1:${port}/${database}`;
  return {
    url: urlFor(superuser, password),
    port,
    superuser,
    password,
    urlFor,
    halt: () => {
      run('pg_ctl', ['-D', data, '-m', 'fast', 'stop']);
      untrackPid(pid);
    },
    resume: () => {
      pid = start();
    },
    stop: async () => {
      try {
        run('pg_ctl', ['-D', data, '-m', 'immediate', 'stop']);
        untrackPid(pid);
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    },
  };
}
