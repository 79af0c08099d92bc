import { spawn, type ChildProcess } from 'node:child_process';
import {
  appendFileSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  renameSync,
  rmSync,
  statSync,
  truncateSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateAuditLog } from '../../bench/generate-audit-log.js';
import { PARSE_THREAD_MIN_BYTES } from '../../src/audit/ingest.js';
import type { StoredAuditEvent } from '../../src/store/repositories/audit-events.repository.js';
import { Store } from '../../src/store/store.js';
import { freePort } from '../../src/util/ports.js';
import { startTestLab, type TestLab } from '../harness/bao-lab.js';
import { ROOT, runCli } from '../harness/cli.js';
import { trackPid, untrackPid } from '../harness/cleanup.js';

/**
 * The audit pipeline against a real OpenBao: a lab with a file device and a socket device pointed
 * at `sealwatch audit listen`; the test makes known calls, then ingests, queries, follows.
 */

interface Counts {
  lines: number;
  events: number;
  duplicates: number;
  malformed: number;
  errors: { file: string; line: number; reason: string }[];
}

const MAIN = join(ROOT, 'dist', 'cli', 'main.js');

/** A long-running CLI command (listen, follow) as a child process the test can signal. */
function startCli(args: string[]): {
  child: ChildProcess;
  stderr: () => string;
  done: Promise<{ code: number | null; stdout: string; stderr: string }>;
} {
  const child = spawn(process.execPath, [MAIN, ...args], {
    cwd: ROOT,
    env: { ...process.env, HOME: tmpdir() },
  });
  trackPid(child.pid!);
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const done = new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) =>
    child.on('close', (code) => {
      untrackPid(child.pid!);
      resolve({ code, stdout, stderr });
    }),
  );
  return { child, done, stderr: () => stderr };
}

async function waitUntil(
  what: string,
  check: () => Promise<boolean> | boolean,
  timeoutMs = 60_000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await check()) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`timed out waiting for ${what}`);
}

async function storedEvents(url: string): Promise<StoredAuditEvent[]> {
  const store = await Store.open(url);
  try {
    return await store.auditEvents.query({ limit: 1_000_000 });
  } finally {
    await store.close();
  }
}

const keyOf = (line: string) => {
  const entry = JSON.parse(line) as { type: string; request: { id: string } };
  return `${entry.request.id}:${entry.type}`;
};
const fileLines = (file: string) => readFileSync(file, 'utf8').split('\n').filter(Boolean);

describe('audit ingest, listen and follow on a real OpenBao', () => {
  let lab: TestLab;
  let dir: string;
  let address: string;
  let auditLog: string;
  let listener: ReturnType<typeof startCli>;
  let listenerCounts: Counts & { connections: number };
  const socketStore = () => join(dir, 'socket.db');
  const fileStore = () => join(dir, 'file.db');
  let limited: { token: string; accessor: string };
  const readIds: string[] = [];
  let deniedId: string;

  async function call(method: string, path: string, token: string | null, body?: unknown) {
    const res = await request(`${address}/v1/${path}`, {
      method: method as 'GET',
      headers: token ? { 'x-vault-token': token } : {},
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await res.body.text();
    return { status: res.statusCode, body: text ? (JSON.parse(text) as Record<string, unknown>) : null };
  }

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'sealwatch-audit-'));
    const port = await freePort();
    // The listener first: the lab's socket device connects to it from the first request.
    listener = startCli([
      '--store',
      socketStore(),
      'audit',
      'listen',
      '--bind',
      `127.0.0.1:${port}`,
      '--json',
    ]);
    await waitUntil('audit listen', () => /listening on/.test(listener.stderr()));
    lab = await startTestLab({ nodes: 1, tenants: 3, auditSocket: `127.0.0.1:${port}` });
    const info = lab.lab();
    address = info.nodes[0]!.address;
    auditLog = info.audit_log;
    const root = info.root_token;

    // Known calls: two reads of tenant secrets, a denied read, a failed login.
    for (const path of ['secret/data/tenants/tenant-0001/smtp', 'secret/data/tenants/tenant-0002/dkim']) {
      const res = await call('GET', path, root);
      expect(res.status).toBe(200);
      readIds.push(res.body!['request_id'] as string);
    }
    const created = await call('POST', 'auth/token/create', root, { policies: ['mailer'], ttl: '1h' });
    const auth = created.body!['auth'] as { client_token: string; accessor: string };
    limited = { token: auth.client_token, accessor: auth.accessor };
    const denied = await call('GET', 'secret/data/api_keys/tenant-0003/k1', limited.token);
    expect(denied.status).toBe(403);
    deniedId = (await waitForDeniedId(auditLog, limited.accessor))!;
    expect(
      (await call('POST', 'auth/userpass/users/auditor', root, { password: 'right', policies: 'default' }))
        .status,
    ).toBe(204);
    expect((await call('POST', 'auth/userpass/login/auditor', null, { password: 'wrong' })).status).toBe(400);
    // Every call is in the file once its response line is there.
    await waitUntil('the audit file to hold the calls', () =>
      readFileSync(auditLog, 'utf8').includes('auth/userpass/login/auditor'),
    );
    await new Promise((r) => setTimeout(r, 500));
    listener.child.kill('SIGTERM');
    const stopped = await listener.done;
    expect(stopped.code).toBe(0);
    listenerCounts = JSON.parse(stopped.stdout) as typeof listenerCounts;
  });

  afterAll(async () => {
    if (listener && listener.child.exitCode === null) listener.child.kill('SIGKILL');
    await lab?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  async function waitForDeniedId(file: string, accessor: string): Promise<string | undefined> {
    let id: string | undefined;
    await waitUntil('the denied request in the audit file', () => {
      id = fileLines(file)
        .map(
          (l) =>
            JSON.parse(l) as {
              type: string;
              error?: string;
              request: { id: string; client_token_accessor?: string };
            },
        )
        .find((e) => e.type === 'response' && e.error && e.request.client_token_accessor === accessor)
        ?.request.id;
      return id !== undefined;
    });
    return id;
  }

  it('ingests the file device: every line stored, counts and queries match the calls', async () => {
    const lines = fileLines(auditLog);
    const result = await runCli([
      '--config',
      lab.configFile,
      '--store',
      fileStore(),
      'audit',
      'ingest',
      auditLog,
      '--json',
    ]);
    expect(result.code, result.stderr).toBe(0);
    const counts = result.json<Counts>();
    expect(Object.keys(counts)).toEqual(['lines', 'events', 'duplicates', 'malformed', 'errors']);
    expect(counts).toEqual({
      lines: lines.length,
      events: new Set(lines.map(keyOf)).size,
      duplicates: lines.length - new Set(lines.map(keyOf)).size,
      malformed: 0,
      errors: [],
    });

    const query = async (...args: string[]) => {
      const res = await runCli([
        '--config',
        lab.configFile,
        '--store',
        fileStore(),
        'audit',
        'query',
        '--json',
        ...args,
      ]);
      expect(res.code, res.stderr).toBe(0);
      return res.json<StoredAuditEvent[]>();
    };
    const reads = await query(
      '--tenant',
      'tenant-0001',
      '--operation',
      'read',
      '--path-prefix',
      'secret/data/tenants/tenant-0001/smtp',
      '--since',
      '1h',
    );
    expect(reads.map((e) => `${e.request_id}:${e.type}`)).toEqual([
      `${readIds[0]}:request`,
      `${readIds[0]}:response`,
    ]);
    expect(reads[1]).toMatchObject({
      display_name: 'root',
      policies: ['root'],
      tenant: 'tenant-0001',
      error: null,
    });
    expect(reads[1]!.hmac_values.split(' ').length).toBeGreaterThanOrEqual(4);

    const failures = await query('--errors', '--accessor', limited.accessor);
    expect(failures.map((e) => e.event_key)).toEqual([`${deniedId}:request`, `${deniedId}:response`]);
    expect(failures[1]).toMatchObject({
      path: 'secret/data/api_keys/tenant-0003/k1',
      tenant: 'tenant-0003',
      policies: ['default', 'mailer'],
    });
    expect(failures[1]!.error).toContain('permission denied');

    const loginLines = fileLines(auditLog).filter((l) => l.includes('auth/userpass/login/auditor'));
    const logins = await query('--path-prefix', 'auth/userpass/login/auditor');
    expect(
      logins.map((e) => e.type),
      loginLines.join('\n'),
    ).toEqual(['request', 'response']);
    expect(logins[1]!.error, loginLines.join('\n')).toMatch(/invalid/);

    const table = await runCli([
      '--config',
      lab.configFile,
      '--store',
      fileStore(),
      'audit',
      'query',
      '--errors',
    ]);
    expect(table.stdout).toMatch(/^TIME\s+TYPE\s+OPERATION\s+PATH/);
    expect(table.stdout).toContain('secret/data/api_keys/tenant-0003/k1');
  });

  it('stores each event once when the same file is ingested again', async () => {
    const before = (await storedEvents(fileStore())).length;
    const again = await runCli([
      '--config',
      lab.configFile,
      '--store',
      fileStore(),
      'audit',
      'ingest',
      auditLog,
      '--json',
    ]);
    const counts = again.json<Counts>();
    // The lab keeps no background traffic, so the file is unchanged: everything is a duplicate.
    expect(counts).toEqual({
      lines: counts.lines,
      events: 0,
      duplicates: counts.lines,
      malformed: 0,
      errors: [],
    });
    expect((await storedEvents(fileStore())).length).toBe(before);
  });

  it('stores the socket device and the file device of the same calls once', async () => {
    expect(listenerCounts.connections).toBeGreaterThanOrEqual(1);
    expect(listenerCounts.malformed).toBe(0);
    const socketKeys = new Set((await storedEvents(socketStore())).map((e) => e.event_key));
    for (const id of [...readIds, deniedId]) {
      expect(socketKeys).toContain(`${id}:request`);
      expect(socketKeys).toContain(`${id}:response`);
    }
    const lines = fileLines(auditLog);
    const fileKeys = new Set(lines.map(keyOf));
    const result = await runCli([
      '--config',
      lab.configFile,
      '--store',
      socketStore(),
      'audit',
      'ingest',
      auditLog,
      '--json',
    ]);
    const counts = result.json<Counts>();
    const shared = [...fileKeys].filter((k) => socketKeys.has(k)).length;
    expect(shared).toBeGreaterThan(10);
    expect(counts.events).toBe(fileKeys.size - shared);
    const stored = await storedEvents(socketStore());
    expect(stored.length).toBe(new Set([...fileKeys, ...socketKeys]).size);
    expect(
      stored
        .filter((e) => e.request_id === readIds[0])
        .map((e) => e.type)
        .sort(),
    ).toEqual(['request', 'response']);
  });

  it('reports garbage lines with their numbers and stores the good ones', async () => {
    const lines = fileLines(auditLog).slice(0, 30);
    const file = join(dir, 'garbage.log');
    const mixed = [
      ...lines.slice(0, 10),
      'not json at all',
      lines[10]!.slice(0, 200),
      ...lines.slice(10, 20),
      '\u0000\u0001\u0002binary',
      '{"time":"2026-01-01T00:00:00Z"}',
      ...lines.slice(20),
    ];
    writeFileSync(file, mixed.join('\n') + '\n');
    const result = await runCli([
      '--config',
      lab.configFile,
      '--store',
      join(dir, 'garbage.db'),
      'audit',
      'ingest',
      file,
      '--json',
    ]);
    expect(result.code).toBe(0);
    const counts = result.json<Counts>();
    expect(counts).toMatchObject({ lines: 34, events: 30, duplicates: 0, malformed: 4 });
    expect(counts.errors).toEqual([
      { file, line: 11, reason: 'not JSON' },
      { file, line: 12, reason: 'truncated JSON audit entry' },
      { file, line: 23, reason: 'binary data, not a JSON audit entry' },
      { file, line: 24, reason: 'not an audit entry (no "type")' },
    ]);
    // An unreadable file is one line naming it, after the others are stored.
    const missing = join(dir, 'missing.log');
    const partial = await runCli(['--store', join(dir, 'garbage2.db'), 'audit', 'ingest', missing, file]);
    expect(partial.code).toBe(1);
    expect(
      partial.stderr
        .trim()
        .split('\n')
        .filter((l) => l.startsWith('sealwatch:')),
    ).toEqual([`sealwatch: audit log ${missing} cannot be read: ENOENT`]);
    expect((await storedEvents(join(dir, 'garbage2.db'))).length).toBe(30);
  });

  it('parses a file of 8 MiB or more in the worker thread of the built CLI and stores every event', async () => {
    // The worker is a script of its own beside the bundled CLI: this is the path only the built CLI takes.
    const file = join(dir, 'large.log');
    await generateAuditLog({ file, lines: 8_000, tenants: 50 });
    expect(statSync(file).size).toBeGreaterThanOrEqual(PARSE_THREAD_MIN_BYTES);
    const store = join(dir, 'large.db');
    const result = await runCli([
      '--config',
      lab.configFile,
      '--store',
      store,
      'audit',
      'ingest',
      file,
      '--json',
    ]);
    expect(result.code, result.stderr).toBe(0);
    expect(result.json<Counts>()).toEqual({
      lines: 8_000,
      events: 8_000,
      duplicates: 0,
      malformed: 0,
      errors: [],
    });
    expect((await storedEvents(store)).length).toBe(8_000);
  });

  it('follows a live file through rotation, truncation and a killed follower without duplicates or gaps', async () => {
    const lines = fileLines(auditLog);
    expect(lines.length).toBeGreaterThanOrEqual(95);
    const [a, b, c1, c2, d, e] = [
      lines.slice(0, 30),
      lines.slice(30, 50),
      lines.slice(50, 60),
      lines.slice(60, 75),
      lines.slice(75, 85),
      lines.slice(85, 95),
    ];
    const file = join(dir, 'live', 'audit.log');
    const store = join(dir, 'follow.db');
    const follow = (...extra: string[]) =>
      startCli([
        '--config',
        lab.configFile,
        '--store',
        store,
        'audit',
        'follow',
        file,
        '--poll-ms',
        '50',
        '--json',
        ...extra,
      ]);
    const count = async () => (await storedEvents(store)).length;

    // The file does not exist yet: follow waits for it.
    const first = follow();
    // Only once the follower has opened (and migrated) its store and is polling: reading the store
    // from here while it migrates would race it.
    await waitUntil('the follower to wait for the file', () => first.stderr().includes('waiting for it'));
    mkdirSync(join(dir, 'live'));
    writeFileSync(file, a.join('\n') + '\n');
    await waitUntil('the first 30 lines', async () => (await count()) === 30);
    // A line written in two pieces is stored once it is complete.
    appendFileSync(file, b.slice(0, 10).join('\n') + '\n' + b[10]!.slice(0, 100));
    await waitUntil('40 lines', async () => (await count()) === 40);
    appendFileSync(file, b[10]!.slice(100) + '\n' + b.slice(11).join('\n') + '\n');
    await waitUntil('50 lines', async () => (await count()) === 50);
    // Rotation: the writer finishes a few lines in the renamed file, then starts a new one.
    renameSync(file, `${file}.1`);
    appendFileSync(`${file}.1`, c1.join('\n') + '\n');
    writeFileSync(file, c2.join('\n') + '\n');
    await waitUntil('the rotated and the new file', async () => (await count()) === 75);
    // A crash: the follower is killed outright, lines arrive while it is down.
    first.child.kill('SIGKILL');
    await first.done;
    appendFileSync(file, d.join('\n') + '\n');
    const second = follow('--until-idle', '2');
    const resumed = await second.done;
    expect(resumed.code, resumed.stderr).toBe(0);
    expect(resumed.stderr).toMatch(/resuming .* at line 16/);
    expect(JSON.parse(resumed.stdout)).toMatchObject({ lines: 10, events: 10, duplicates: 0, malformed: 0 });
    // Truncation while stopped (copytruncate): read from the start.
    truncateSync(file, 0);
    writeFileSync(file, e.join('\n') + '\n');
    const third = await follow('--until-idle', '2').done;
    expect(third.stderr).toMatch(/truncated/);
    expect(JSON.parse(third.stdout)).toMatchObject({ lines: 10, events: 10, duplicates: 0, truncations: 1 });

    const stored = await storedEvents(store);
    const expected = [...a, ...b, ...c1, ...c2, ...d, ...e].map(keyOf);
    expect(stored.map((ev) => ev.event_key).sort()).toEqual([...new Set(expected)].sort());
    expect(stored.length).toBe(95);
  });
});
