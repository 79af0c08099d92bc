/**
 * `npm run bench -- watch [--rate 5000] [--seconds 60] [--planted-per-second 4] [--dir DIR] [--keep]`
 *
 * Live detection under load. `sealwatch watch` (the built CLI, a child process) receives a socket
 * audit device's stream from a replay client that writes the lines of a generated OpenBao audit log
 * (bench/generate-audit-log.ts) at a fixed rate. Among them, `--planted-per-second` lines are calls
 * made with a root token of a new accessor each: every one is a new `root-token` detection, whose
 * webhook notice a receiver in this process times (line written → notice received, one clock).
 * Afterwards the stored events are counted (lost = written − stored), watch's peak RSS is read from
 * /proc (VmHWM), and `sealwatch audit ingest` stores the same lines into a fresh store in batch, the
 * baseline of ratios.vs_ingest (sustained live rate / batch ingest rate).
 */
import { spawn, spawnSync } from 'node:child_process';
import { createServer } from 'node:http';
import { appendFileSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { loadavg, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import SQLite from 'better-sqlite3';
import { LAB_TENANT_TEMPLATES } from '../src/lab/layout.js';
import { freePort } from '../src/util/ports.js';
import { generateAuditLog } from './generate-audit-log.js';

const { values } = parseArgs({
  options: {
    rate: { type: 'string', default: '5000' },
    seconds: { type: 'string', default: '60' },
    'planted-per-second': { type: 'string', default: '4' },
    tenants: { type: 'string', default: '5000' },
    dir: { type: 'string' },
    keep: { type: 'boolean', default: false },
    /** Writes a CPU profile of the watch process into this directory (node --cpu-prof). */
    profile: { type: 'string' },
    /** Prints each planted detection to stderr: [second written, ms to notice, ms to fired_at]. */
    timeline: { type: 'boolean', default: false },
  },
  allowPositionals: true,
});
const RATE = Number(values.rate);
const SECONDS = Number(values.seconds);
const PLANTED_PER_SECOND = Number(values['planted-per-second']);
const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
const CLI = join(ROOT, 'dist', 'cli', 'main.js');

function ensureBuilt(): void {
  if (existsSync(CLI)) return;
  const build = spawnSync('npm', ['run', 'build'], { cwd: ROOT, stdio: 'inherit' });
  if (build.status !== 0) throw new Error('npm run build failed');
}

const percentile = (sorted: readonly number[], p: number) =>
  sorted.length === 0 ? NaN : sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!;

/** A root-token call by a new accessor: one request line, the detection's trigger. */
function plantedLine(n: number): string {
  const time = new Date().toISOString().replace('Z', '000000Z');
  const accessor = `bench-root-${String(n).padStart(6, '0')}`;
  return `${JSON.stringify({
    time,
    type: 'request',
    auth: {
      client_token: `hmac-sha256:${'b'.repeat(64)}`,
      accessor,
      display_name: 'root',
      policies: ['root'],
      token_policies: ['root'],
      token_type: 'service',
    },
    request: {
      id: `planted-${n}-${process.pid}`,
      operation: 'read',
      path: 'sys/mounts',
      remote_address: '192.0.2.10',
      remote_port: 40000,
      namespace: { id: 'root' },
    },
  })}\n`;
}

async function main(): Promise<void> {
  ensureBuilt();
  const dir = values.dir ?? mkdtempSync(join(tmpdir(), 'sealwatch-bench-watch-'));
  const file = join(dir, 'audit.log');
  const config = join(dir, 'sealwatch.yaml');
  const storeFile = join(dir, 'sealwatch.db');
  const ingestStore = join(dir, 'ingest.db');
  let watch: ReturnType<typeof spawn> | undefined;
  const received = new Map<string, number>();
  /** Per planted accessor: when watch fired the alert (its fired_at), to split the latency. */
  const firedAt = new Map<string, number>();
  /** performance.now() - Date.now(): puts watch's wall-clock fired_at on this process's clock. */
  const clockOffset = performance.now() - Date.now();
  const receiver = createServer((req, res) => {
    let body = '';
    req.on('data', (d: Buffer) => (body += d.toString()));
    req.on('end', () => {
      const at = performance.now();
      try {
        const notice = JSON.parse(body) as {
          kind: string;
          alert: { rule: string; labels: Record<string, string>; fired_at: string | null };
        };
        const accessor = notice.alert.labels['accessor'];
        if (
          notice.kind === 'firing' &&
          notice.alert.rule === 'root-token' &&
          accessor &&
          !received.has(accessor)
        ) {
          received.set(accessor, at);
          if (notice.alert.fired_at) firedAt.set(accessor, Date.parse(notice.alert.fired_at) + clockOffset);
        }
      } catch {
        // Not a notice (nothing else posts here): it simply does not count.
      }
      res.writeHead(202).end('{}');
    });
  });
  try {
    const lines = RATE * SECONDS;
    const genStarted = performance.now();
    await generateAuditLog({ file, lines, tenants: Number(values.tenants) });
    const genSeconds = (performance.now() - genStarted) / 1000;
    const text = readFileSync(file, 'utf8');
    const all = text.split('\n').filter((l) => l !== '');
    await new Promise<void>((resolve) => receiver.listen(0, '127.0.0.1', resolve));
    const receiverPort = (receiver.address() as { port: number }).port;
    const [auditPort, metricsPort, nodePort] = await Promise.all([freePort(), freePort(), freePort()]);
    writeFileSync(
      config,
      [
        'vault:',
        `  addresses: [http://127.0.0.1:${nodePort}]`,
        `store:\n  url: ${storeFile}`,
        `tenancy:\n  paths:\n${LAB_TENANT_TEMPLATES.map((t) => `    - ${t}`).join('\n')}`,
        'watch:',
        '  interval: 5s',
        '  channels:',
        `    - { kind: webhook, url: "http://127.0.0.1:${receiverPort}/hook", signing_key: { env: BENCH_SIGNING_KEY } }`,
        '',
      ].join('\n'),
    );
    watch = spawn(
      process.execPath,
      [
        ...(values.profile ? ['--cpu-prof', '--cpu-prof-dir', values.profile] : []),
        CLI,
        '--config',
        config,
        'watch',
        '--listen',
        `127.0.0.1:${metricsPort}`,
        '--audit-socket',
        `127.0.0.1:${auditPort}`,
      ],
      {
        env: { ...process.env, BENCH_SIGNING_KEY: 'bench-signing-key-0123456789' },
        stdio: ['ignore', 'ignore', 'pipe'],
      },
    );
    let watchLog = '';
    watch.stderr!.setEncoding('utf8').on('data', (d: string) => (watchLog = (watchLog + d).slice(-20_000)));
    const deadline = Date.now() + 30_000;
    for (;;) {
      const ok = await fetch(`http://127.0.0.1:${metricsPort}/healthz`).then(
        () => true,
        () => false,
      );
      if (ok) break;
      if (Date.now() > deadline) throw new Error(`watch did not start: ${watchLog}`);
      await new Promise((r) => setTimeout(r, 200));
    }

    // The replay client: a socket audit device writing at RATE lines/s, in 10 ms slices.
    const socket = connect(auditPort, '127.0.0.1');
    await new Promise<void>((resolve, reject) => socket.once('connect', resolve).once('error', reject));
    const written = new Map<string, number>();
    let sent = 0;
    let planted = 0;
    const started = performance.now();
    const plantEveryMs = 1000 / PLANTED_PER_SECOND;
    while (sent < all.length) {
      const elapsed = performance.now() - started;
      const due = Math.min(all.length, Math.floor((elapsed / 1000) * RATE));
      if (due > sent) {
        const chunk = `${all.slice(sent, due).join('\n')}\n`;
        sent = due;
        if (!socket.write(chunk)) await new Promise((r) => socket.once('drain', r));
      }
      while (planted < Math.floor(elapsed / plantEveryMs)) {
        const n = planted++;
        const line = plantedLine(n);
        socket.write(line);
        written.set(`bench-root-${String(n).padStart(6, '0')}`, performance.now());
        appendFileSync(file, line);
      }
      await new Promise((r) => setTimeout(r, 10));
    }
    const writeSeconds = (performance.now() - started) / 1000;
    const total = sent + planted;
    // Everything written is stored: wait for the counter, then for the last notices.
    const storedBy = Date.now() + 120_000;
    let ingested = 0;
    while (Date.now() < storedBy) {
      const m = /sealwatch_audit_events_ingested_total (\d+)/.exec(
        await (await fetch(`http://127.0.0.1:${metricsPort}/metrics`)).text(),
      );
      ingested = Number(m?.[1] ?? 0);
      if (ingested >= total) break;
      await new Promise((r) => setTimeout(r, 100));
    }
    const storedSeconds = (performance.now() - started) / 1000;
    const noticesBy = Date.now() + 10_000;
    while (received.size < written.size && Date.now() < noticesBy)
      await new Promise((r) => setTimeout(r, 100));
    const status = readFileSync(`/proc/${watch.pid}/status`, 'utf8');
    const peakRssMb = Number(/VmHWM:\s+(\d+) kB/.exec(status)?.[1] ?? NaN) / 1024;
    socket.end();
    const exited = new Promise((r) => watch!.once('exit', r));
    watch.kill('SIGTERM');
    await exited;
    watch = undefined;
    const db = new SQLite(storeFile, { readonly: true });
    const stored = Number((db.prepare('SELECT count(*) AS n FROM audit_events').get() as { n: number }).n);
    db.close();
    const lost = total - stored;
    const latencies = [...written]
      .map(([accessor, at]) => (received.has(accessor) ? received.get(accessor)! - at : Infinity))
      .sort((a, b) => a - b);
    if (values.timeline)
      console.error(
        JSON.stringify(
          [...written].map(([accessor, at]) => [
            Math.round((at - started) / 100) / 10,
            Math.round((received.get(accessor) ?? Infinity) - at),
            Math.round((firedAt.get(accessor) ?? Infinity) - at),
          ]),
        ),
      );
    const missed = latencies.filter((l) => l === Infinity).length;
    const toFire = [...written]
      .flatMap(([accessor, at]) => (firedAt.has(accessor) ? [firedAt.get(accessor)! - at] : []))
      .sort((a, b) => a - b);
    const toReceive = [...firedAt]
      .flatMap(([accessor, at]) => (received.has(accessor) ? [received.get(accessor)! - at] : []))
      .sort((a, b) => a - b);
    const liveRate = stored / storedSeconds;

    // Baseline: the same lines stored in batch by `sealwatch audit ingest` into a fresh store.
    writeFileSync(
      join(dir, 'ingest.yaml'),
      `store:\n  url: ${ingestStore}\ntenancy:\n  paths:\n${LAB_TENANT_TEMPLATES.map((t) => `    - ${t}`).join('\n')}\n`,
    );
    const ingestStarted = performance.now();
    const ingest = spawnSync(
      process.execPath,
      [CLI, '--config', join(dir, 'ingest.yaml'), 'audit', 'ingest', file, '--json'],
      {
        encoding: 'utf8',
        maxBuffer: 64 * 1024 * 1024,
      },
    );
    const ingestSeconds = (performance.now() - ingestStarted) / 1000;
    if (ingest.status !== 0) throw new Error(`audit ingest failed: ${ingest.stderr}`);
    const ingestRate = total / ingestSeconds;

    const metrics = {
      detect_p50_ms: Math.round(percentile(latencies, 50)),
      detect_p99_ms: Math.round(percentile(latencies, 99)),
      detect_max_ms: Math.round(latencies.filter((l) => l !== Infinity).at(-1) ?? NaN),
      stored_to_fired_p50_ms: Math.round(percentile(toFire, 50)),
      fired_to_received_p50_ms: Math.round(percentile(toReceive, 50)),
      detections_timed: latencies.length,
      detections_missed: missed,
      events_per_second: Math.round(liveRate),
      lost,
      peak_rss_mb: Math.round(peakRssMb),
      ingest_events_per_second: Math.round(ingestRate),
    };
    const rows: [string, string, string][] = [
      ['lines written (generated + planted)', `${sent} + ${planted}`, ''],
      ['write phase / until all stored', `${writeSeconds.toFixed(1)} s / ${storedSeconds.toFixed(1)} s`, ''],
      ['events stored / lost', `${stored} / ${lost}`, '0 lost'],
      ['sustained live rate (events/s)', `${metrics.events_per_second}`, `≥ ${RATE}`],
      [
        'detection p50 / p99 / max (ms)',
        `${metrics.detect_p50_ms} / ${metrics.detect_p99_ms} / ${metrics.detect_max_ms}`,
        'p99 < 500',
      ],
      [
        'written → fired / fired → received p50 (ms)',
        `${metrics.stored_to_fired_p50_ms} / ${metrics.fired_to_received_p50_ms}`,
        '',
      ],
      ['detections timed / never notified', `${latencies.length} / ${missed}`, '0 missed'],
      ['watch peak RSS (MB)', `${metrics.peak_rss_mb}`, '< 200'],
      ['batch `audit ingest` (events/s)', `${metrics.ingest_events_per_second}`, ''],
    ];
    console.log(
      `\nwatch bench: ${RATE} lines/s for ${SECONDS} s (generated in ${genSeconds.toFixed(1)} s), load ${loadavg()
        .map((l) => l.toFixed(2))
        .join(' ')}`,
    );
    for (const [name, value, target] of rows)
      console.log(`  ${name.padEnd(40)} ${value.padEnd(24)} ${target}`);
    console.log(
      JSON.stringify({
        bench: 'watch',
        params: {
          rate: RATE,
          seconds: SECONDS,
          planted_per_second: PLANTED_PER_SECOND,
          tenants: Number(values.tenants),
        },
        metrics,
        ratios: { vs_ingest: Number((liveRate / ingestRate).toFixed(3)) },
      }),
    );
  } finally {
    if (watch) {
      const exited = new Promise((r) => watch!.once('exit', r));
      watch.kill('SIGTERM');
      await exited;
    }
    receiver.close();
    if (!values.keep && !values.dir) rmSync(dir, { recursive: true, force: true });
  }
}

await main();
