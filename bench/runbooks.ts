/**
 * `npm run bench -- runbooks [--secrets 10000] [--only diagnose|backup-verify]`
 *
 * Runbook timings on real OpenBao labs, each against the issue's bound. Each part is one function
 * returning its rows, params, metrics and ratios; the parts list at the bottom runs them in order
 * and merges them into the one JSON line.
 *  - backup verify: a lab node seeded with N KV v2 secrets, snapshotted by `backup snapshot`, then
 *    the whole `backup verify` drill (offline check, throwaway server, restore, unseal with the
 *    lab's shares, root token, baseline checks, stop); bound 60 s for 10,000 secrets.
 *  - diagnose: a 3-node lab; `sealwatch runbook diagnose NAME --json` for every runbook in the
 *    registry, through the built CLI as an operator runs it (process start included), 3 runs each;
 *    bound 3 s for the slowest runbook's median. The baseline is the same CLI doing nothing but
 *    `runbook list` (process start and module loading), reported beside it.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import pLimit from 'p-limit';
import { createBackups } from '../src/backup/backup.service.js';
import { renderTable } from '../src/cli/output.js';
import { readLabFile } from '../src/lab/lab-file.js';
import { labClient, labDown, labUp } from '../src/lab/lab.service.js';
import { silentLogger } from '../src/logging/logger.js';
import { RUNBOOK_NAMES } from '../src/runbooks/registry.js';
import { Store } from '../src/store/store.js';

const { values } = parseArgs({
  options: {
    secrets: { type: 'string', default: '10000' },
    /** Run one part only: diagnose or backup-verify. */
    only: { type: 'string' },
  },
  allowPositionals: true,
});
const SECRETS = Number(values.secrets);
const BACKUP_VERIFY_BOUND = 60;
const DIAGNOSE_BOUND = 3;
const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
const CLI = join(ROOT, 'dist', 'cli', 'main.js');
const logger = silentLogger();
const progress = (text: string) => process.stderr.write(`${text}\n`);
const round = (n: number) => Math.round(n * 100) / 100;

interface BenchPart {
  rows: { measure: string; seconds: number; bound: string; detail: string }[];
  params: Record<string, unknown>;
  metrics: Record<string, unknown>;
  ratios: Record<string, number>;
}

async function backupVerify(): Promise<BenchPart> {
  const dir = mkdtempSync(join(tmpdir(), 'sealwatch-bench-backup-'));
  try {
    progress(`backup verify: lab node with ${SECRETS} KV secrets…`);
    await labUp({ dir, nodes: 1, tenants: 5 }, { logger });
    const lab = readLabFile(dir);
    const vault = labClient(lab.nodes, lab.root_token, logger);
    const store = await Store.open(join(dir, 'sealwatch.db'));
    try {
      const seedStarted = performance.now();
      const limit = pLimit(64);
      const kv = vault.kv('secret');
      await Promise.all(
        Array.from({ length: SECRETS }, (_, i) =>
          limit(() =>
            kv.write(`bench/${String(i % 100).padStart(2, '0')}/secret-${i}`, {
              username: `user-${i}`,
              password: `bench-password-${i}`,
            }),
          ),
        ),
      );
      const seedSeconds = (performance.now() - seedStarted) / 1000;
      const backups = createBackups({ vault, store, logger });
      const record = await backups.snapshot({ dir: join(dir, 'backups') });
      progress(`snapshot ${record.bytes} bytes; backup verify…`);
      const started = performance.now();
      const report = await backups.verify(record.file, { shares: lab.unseal_keys });
      const seconds = (performance.now() - started) / 1000;
      if (!report.ok)
        throw new Error(
          `backup verify failed: ${report.checks
            .filter((c) => !c.ok)
            .map((c) => `${c.id}: ${c.detail}`)
            .join('; ')}`,
        );
      return {
        rows: [
          {
            measure: `seed ${SECRETS} KV secrets (64 in flight)`,
            seconds: round(seedSeconds),
            bound: '-',
            detail: `${Math.round(SECRETS / seedSeconds)} writes/s`,
          },
          {
            measure: 'backup verify',
            seconds: round(seconds),
            bound: `${BACKUP_VERIFY_BOUND} s`,
            detail: Object.entries(report.seconds)
              .filter(([phase]) => phase !== 'total')
              .map(([phase, s]) => `${phase} ${s}`)
              .join(', '),
          },
        ],
        params: { secrets: SECRETS, snapshot_bytes: record.bytes, backup_nodes: 1 },
        metrics: {
          backup_verify_seconds: round(seconds),
          backup_verify_phase_seconds: report.seconds,
          seed_seconds: round(seedSeconds),
        },
        ratios: { backup_verify_vs_target: round(BACKUP_VERIFY_BOUND / seconds) },
      };
    } finally {
      await store.close();
      await vault.close();
    }
  } finally {
    await labDown(dir, { purge: true }).catch(() => rmSync(dir, { recursive: true, force: true }));
  }
}

/** Seconds one CLI invocation takes, end to end; throws with its stderr unless it exits 0 or 3. */
function timeCli(args: string[], cwd: string): number {
  const started = performance.now();
  const result = spawnSync(process.execPath, [CLI, ...args], { cwd, encoding: 'utf8', timeout: 60_000 });
  const seconds = (performance.now() - started) / 1000;
  if (result.status !== 0 && result.status !== 3)
    throw new Error(
      `sealwatch ${args.join(' ')} exited ${result.status}: ${result.stderr.trim().split('\n').pop()}`,
    );
  return seconds;
}

const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!;

async function diagnoseAll(): Promise<BenchPart> {
  const build = spawnSync('npm', ['run', 'build'], { cwd: ROOT, stdio: ['ignore', 'ignore', 'inherit'] });
  if (build.status !== 0) throw new Error('npm run build failed');
  const dir = mkdtempSync(join(tmpdir(), 'sealwatch-bench-diagnose-'));
  try {
    progress('diagnose: 3-node lab…');
    await labUp({ dir, nodes: 3, tenants: 20 }, { logger });
    const config = ['--config', join(dir, 'sealwatch.yaml')];
    // Runbooks that diagnose something given: a leaked value that appears nowhere.
    const valueFile = join(dir, 'leaked-value');
    writeFileSync(valueFile, 'a-value-nobody-read\n', { mode: 0o600 });
    const extra: Record<string, string[]> = { 'secret-leak': ['--value-file', valueFile] };
    const RUNS = 3;
    const startup = median(
      Array.from({ length: RUNS }, () => timeCli(['runbook', 'list', '--json', ...config], dir)),
    );
    const rows: BenchPart['rows'] = [];
    const medians: Record<string, number> = {};
    for (const name of RUNBOOK_NAMES) {
      const args = ['runbook', 'diagnose', name, '--json', ...config, ...(extra[name] ?? [])];
      const runs = Array.from({ length: RUNS }, () => timeCli(args, dir));
      medians[name] = round(median(runs));
      rows.push({
        measure: `runbook diagnose ${name}`,
        seconds: medians[name],
        bound: `${DIAGNOSE_BOUND} s`,
        detail: `median of ${RUNS}; runs ${runs.map(round).join(', ')} s`,
      });
    }
    rows.push({
      measure: 'baseline: runbook list (process start)',
      seconds: round(startup),
      bound: '-',
      detail: `median of ${RUNS}`,
    });
    const max = Math.max(...Object.values(medians));
    return {
      rows,
      params: { diagnose_nodes: 3, runbooks: RUNBOOK_NAMES.length },
      metrics: {
        diagnose_seconds_max: round(max),
        diagnose_seconds: medians,
        cli_start_seconds: round(startup),
      },
      ratios: { diagnose_vs_target: round(DIAGNOSE_BOUND / max) },
    };
  } finally {
    await labDown(dir, { purge: true }).catch(() => rmSync(dir, { recursive: true, force: true }));
  }
}

// One line per part; a part is measured on its own lab and leaves nothing running.
const PARTS: Record<string, () => Promise<BenchPart>> = {
  diagnose: diagnoseAll,
  'backup-verify': backupVerify,
};
if (values.only !== undefined && !Object.hasOwn(PARTS, values.only)) {
  console.error(`--only ${values.only}: one of ${Object.keys(PARTS).join(', ')}`);
  process.exit(2);
}
const parts = values.only ? [PARTS[values.only]!] : Object.values(PARTS);

const results: BenchPart[] = [];
for (const part of parts) results.push(await part());
const merged = results.reduce<Omit<BenchPart, 'rows'>>(
  (all, r) => ({
    params: { ...all.params, ...r.params },
    metrics: { ...all.metrics, ...r.metrics },
    ratios: { ...all.ratios, ...r.ratios },
  }),
  { params: {}, metrics: {}, ratios: {} },
);
console.log('\nrunbooks benchmark');
console.log(renderTable(results.flatMap((r) => r.rows)));
console.log(JSON.stringify({ bench: 'runbooks', ...merged }));
