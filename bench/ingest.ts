/**
 * `npm run bench -- ingest [--lines 1000000] [--tenants 5000] [--dir DIR] [--keep]`
 *
 * Audit ingestion against two baselines over the same generated file (bench/generate-audit-log.ts),
 * all read from the page cache after generation:
 *  (a) the parse ceiling: a bare Node loop that splits the file into lines (the same splitter
 *      sealwatch uses) and JSON.parses each one, storing nothing;
 *  (b) jq -c 'select(.type=="response")' FILE > /dev/null, the usual command-line filter;
 *  (c) sealwatch audit ingest into a fresh SQLite store (parse, normalise, insert, index), run as
 *      the built CLI in a child process under /usr/bin/time, which gives (d) its peak RSS;
 *  (e) the store floor: the rows of the same file stored and indexed through the same bulk-load
 *      path as (c), in this process, with only the storing timed (parsing runs between the timed
 *      sections). Its ratio to (a) is the most vs_parse_ceiling could be if parsing cost nothing;
 *  then sealwatch assess over the store (c) built.
 * Wall-clock seconds are the headline; CPU seconds are printed too, because a busy machine
 * stretches wall time for every arm alike but says little about cost.
 */
import { spawn, spawnSync } from 'node:child_process';
import { createReadStream, existsSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import SQLite from 'better-sqlite3';
import { availableParallelism, loadavg, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { emptyParsedLines, parseLines } from '../src/audit/audit-sink.js';
import { INGEST_BATCH_SIZE } from '../src/audit/ingest.js';
import { readLines } from '../src/audit/line-reader.js';
import { LAB_TENANT_TEMPLATES } from '../src/lab/layout.js';
import { Store } from '../src/store/store.js';
import { mustParsePathTemplate, PathTemplateMatcher } from '../src/config/path-template.js';
import { generateAuditLog } from './generate-audit-log.js';

const { values } = parseArgs({
  options: {
    lines: { type: 'string', default: '1000000' },
    tenants: { type: 'string', default: '5000' },
    dir: { type: 'string' },
    keep: { type: 'boolean', default: false },
  },
  allowPositionals: true,
});
const LINES = Number(values.lines);
const TENANTS = Number(values.tenants);
const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
const CLI = join(ROOT, 'dist', 'cli', 'main.js');

interface Run {
  seconds: number;
  cpuSeconds: number;
  maxRssMb?: number;
  stdout: string;
}

/** Runs a command under /usr/bin/time: wall, CPU (user+sys) and peak RSS of the child. */
function timed(command: string, args: string[], stdoutFile?: string): Promise<Run> {
  return new Promise((resolve, reject) => {
    const started = performance.now();
    const child = spawn('/usr/bin/time', ['-f', '__TIME__ %U %S %M', command, ...args], {
      stdio: ['ignore', stdoutFile ? 'ignore' : 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout?.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', reject);
    child.on('close', (code) => {
      const seconds = (performance.now() - started) / 1000;
      const match = /__TIME__ ([\d.]+) ([\d.]+) (\d+)/.exec(stderr);
      if (code !== 0 || !match)
        return reject(new Error(`${command} ${args.join(' ')} failed (${code}): ${stderr.slice(-2000)}`));
      resolve({
        seconds,
        cpuSeconds: Number(match[1]) + Number(match[2]),
        maxRssMb: Number(match[3]) / 1024,
        stdout,
      });
    });
  });
}

async function parseCeiling(file: string): Promise<{ seconds: number; cpuSeconds: number; lines: number }> {
  const cpu0 = process.cpuUsage();
  const started = performance.now();
  let lines = 0;
  for await (const batch of readLines(createReadStream(file, { highWaterMark: 1024 * 1024 }), {
    flushPartial: true,
  }))
    for (const line of batch) {
      JSON.parse(line.text);
      lines++;
    }
  const cpu = process.cpuUsage(cpu0);
  return { seconds: (performance.now() - started) / 1000, cpuSeconds: (cpu.user + cpu.system) / 1e6, lines };
}

/** A SQLite store file and its WAL companions. */
function removeSqliteStore(file: string): void {
  for (const f of [file, `${file}-wal`, `${file}-shm`]) rmSync(f, { force: true });
}

/**
 * Arms (e) and (f): stores and indexes every row of `file` as `audit ingest` does (same batch
 * size, the bulk load's long transactions and deferred indexes), timing only the store's work.
 * Collecting the parser's garbage can fall into a timed part, so the floor is if anything high.
 */
async function storeFloor(
  file: string,
  storeFile: string,
  indexes: 'sealwatch' | 'named',
): Promise<{ seconds: number; cpuSeconds: number }> {
  removeSqliteStore(storeFile);
  if (indexes === 'named') await keepNamedIndexesOnly(storeFile);
  const store = await Store.open(storeFile);
  const context = {
    matcher: new PathTemplateMatcher(LAB_TENANT_TEMPLATES.map(mustParsePathTemplate)),
    source: file,
  };
  let seconds = 0;
  let cpuSeconds = 0;
  let stored = 0;
  async function timedPart<T>(work: () => Promise<T>): Promise<T> {
    const cpu0 = process.cpuUsage();
    const started = performance.now();
    const result = await work();
    seconds += (performance.now() - started) / 1000;
    const cpu = process.cpuUsage(cpu0);
    cpuSeconds += (cpu.user + cpu.system) / 1e6;
    return result;
  }
  try {
    const endBulkLoad = await timedPart(() => store.auditEvents.beginBulkLoad({ longTransactions: true }));
    let parsed = emptyParsedLines();
    const flush = () => {
      const rows = parsed.rows;
      parsed = emptyParsedLines();
      return timedPart(async () => (stored += (await store.auditEvents.insertRows(rows)).inserted));
    };
    for await (const batch of readLines(createReadStream(file, { highWaterMark: 1024 * 1024 }), {
      flushPartial: true,
    })) {
      parseLines(batch, context, parsed, 0);
      if (parsed.rows.length >= INGEST_BATCH_SIZE) await flush();
    }
    await flush();
    stored -= (await timedPart(endBulkLoad)).duplicates;
  } finally {
    await store.close();
  }
  if (stored !== LINES)
    throw new Error(`the store floor (${indexes} indexes) stored ${stored} of ${LINES} lines`);
  return { seconds, cpuSeconds };
}

/** Arm (f)'s schema: a migrated store whose event indexes are only the ones issue 3 names. */
async function keepNamedIndexesOnly(storeFile: string): Promise<void> {
  await (await Store.open(storeFile)).close();
  const handle = new SQLite(storeFile);
  try {
    const keep = new Set(['audit_events_time', 'audit_events_event_key']);
    const existing = handle
      .prepare(
        "SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'audit_events' AND sql IS NOT NULL",
      )
      .pluck()
      .all() as string[];
    for (const name of existing) if (!keep.has(name)) handle.exec(`DROP INDEX "${name}"`);
    for (const column of ['path', 'accessor', 'remote_address', 'tenant'])
      handle.exec(`CREATE INDEX "floor_${column}" ON audit_events ("${column}")`);
  } finally {
    handle.close();
  }
}

function ensureJq(): void {
  if (spawnSync('jq', ['--version']).status !== 0)
    throw new Error('jq is not installed: apt-get install -y jq (the ingest bench compares against it)');
}

function ensureBuilt(): void {
  if (existsSync(CLI)) return;
  const build = spawnSync('npm', ['run', 'build'], { cwd: ROOT, stdio: 'inherit' });
  if (build.status !== 0) throw new Error('npm run build failed');
}

async function main(): Promise<void> {
  ensureJq();
  ensureBuilt();
  const dir = values.dir ?? mkdtempSync(join(tmpdir(), 'sealwatch-bench-ingest-'));
  const file = join(dir, 'audit.log');
  const store = join(dir, 'sealwatch.db');
  const config = join(dir, 'sealwatch.yaml');
  try {
    const genStarted = performance.now();
    const generated = await generateAuditLog({ file, lines: LINES, tenants: TENANTS });
    const genSeconds = (performance.now() - genStarted) / 1000;
    const mb = statSync(file).size / 1024 / 1024;
    writeFileSync(
      config,
      `tenancy:\n  paths:\n${LAB_TENANT_TEMPLATES.map((t) => `    - ${t}`).join('\n')}\nstore:\n  url: ${store}\n`,
    );

    // Every arm is stretched by whatever else runs on the machine: say how busy it was.
    const loadBefore = loadavg()[0]!;
    const ceiling = await parseCeiling(file);
    const jq = await timed('jq', ['-c', 'select(.type=="response")', file], '/dev/null');
    removeSqliteStore(store);
    const ingest = await timed(process.execPath, [
      CLI,
      '--config',
      config,
      '--log-level',
      'warn',
      'audit',
      'ingest',
      file,
      '--json',
    ]);
    const counts = JSON.parse(ingest.stdout) as { lines: number; events: number; malformed: number };
    if (counts.events !== LINES || counts.malformed !== 0)
      throw new Error(`ingest stored ${counts.events} of ${LINES} lines (${counts.malformed} malformed)`);
    const assess = await timed(process.execPath, [
      CLI,
      '--config',
      config,
      'assess',
      '--since',
      '2026-02-28T00:00:00Z',
      '--until',
      '2026-03-31T00:00:00Z',
      '--json',
    ]).catch((error: unknown) => ({ error: error as Error }));

    const floorStore = join(dir, 'floor.db');
    const floor = await storeFloor(file, floorStore, 'sealwatch');
    const namedFloor = await storeFloor(file, floorStore, 'named');
    removeSqliteStore(floorStore);

    const loadAfter = loadavg()[0]!;
    const rate = (seconds: number) => Math.round(LINES / seconds);
    const rows = [
      {
        arm: '(a) parse ceiling: split + JSON.parse',
        seconds: ceiling.seconds,
        cpu: ceiling.cpuSeconds,
        rss: undefined,
      },
      { arm: '(b) jq select(.type=="response")', seconds: jq.seconds, cpu: jq.cpuSeconds, rss: jq.maxRssMb },
      {
        arm: '(c) sealwatch audit ingest (SQLite)',
        seconds: ingest.seconds,
        cpu: ingest.cpuSeconds,
        rss: ingest.maxRssMb,
      },
      {
        arm: '(e) store floor: storing only, as in (c)',
        seconds: floor.seconds,
        cpu: floor.cpuSeconds,
        rss: undefined,
      },
      {
        arm: '(f) store floor, only the named indexes',
        seconds: namedFloor.seconds,
        cpu: namedFloor.cpuSeconds,
        rss: undefined,
      },
      ...('error' in assess
        ? []
        : [
            {
              arm: '    sealwatch assess over the store',
              seconds: assess.seconds,
              cpu: assess.cpuSeconds,
              rss: assess.maxRssMb,
            },
          ]),
    ];
    console.log(
      `\n${LINES.toLocaleString('en')} lines, ${mb.toFixed(0)} MiB, ${TENANTS} tenants (generated in ${genSeconds.toFixed(1)} s); load average ${loadBefore.toFixed(2)} before, ${loadAfter.toFixed(2)} after, on ${availableParallelism()} CPUs\n`,
    );
    console.log(
      'ARM'.padEnd(42) +
        'WALL s'.padStart(9) +
        'CPU s'.padStart(9) +
        'LINES/s'.padStart(11) +
        'PEAK RSS MB'.padStart(13),
    );
    for (const r of rows)
      console.log(
        r.arm.padEnd(42) +
          r.seconds.toFixed(2).padStart(9) +
          r.cpu.toFixed(2).padStart(9) +
          String(rate(r.seconds)).padStart(11) +
          (r.rss === undefined ? '-' : r.rss.toFixed(0)).padStart(13),
      );
    if ('error' in assess)
      console.log(`\nassess failed, left out of the metrics: ${assess.error.message.split('\n')[0]}`);
    console.log('');
    console.log(
      JSON.stringify({
        bench: 'ingest',
        params: {
          lines: LINES,
          tenants: TENANTS,
          file_mb: Math.round(mb),
          errors_in_log: generated.errors,
          store: 'sqlite',
          cpus: availableParallelism(),
          load_average_before: round(loadBefore),
          load_average_after: round(loadAfter),
        },
        metrics: {
          parse_ceiling_seconds: round(ceiling.seconds),
          parse_ceiling_lines_per_s: rate(ceiling.seconds),
          jq_seconds: round(jq.seconds),
          jq_lines_per_s: rate(jq.seconds),
          ingest_seconds: round(ingest.seconds),
          ingest_lines_per_s: rate(ingest.seconds),
          ingest_cpu_seconds: round(ingest.cpuSeconds),
          parse_ceiling_cpu_seconds: round(ceiling.cpuSeconds),
          jq_cpu_seconds: round(jq.cpuSeconds),
          store_floor_seconds: round(floor.seconds),
          store_floor_cpu_seconds: round(floor.cpuSeconds),
          named_indexes_store_floor_seconds: round(namedFloor.seconds),
          peak_rss_mb: Math.round(ingest.maxRssMb ?? 0),
          ...('error' in assess ? {} : { assess_seconds: round(assess.seconds) }),
        },
        ratios: {
          vs_parse_ceiling: round(ceiling.seconds / ingest.seconds),
          vs_jq: round(jq.seconds / ingest.seconds),
          // The most vs_parse_ceiling could be with parsing free: storing and indexing alone.
          store_floor_vs_parse_ceiling: round(ceiling.seconds / floor.seconds),
          named_indexes_store_floor_vs_parse_ceiling: round(ceiling.seconds / namedFloor.seconds),
        },
      }),
    );
  } finally {
    if (!values.keep && !values.dir) rmSync(dir, { recursive: true, force: true });
  }
}

const round = (n: number) => Math.round(n * 1000) / 1000;

await main();
