/**
 * `npm run bench -- runbooks [--secrets 10000]`
 *
 * Runbook timings on real OpenBao labs, each against the issue's bound. Each part is one function
 * returning its rows, params, metrics and ratios; the parts list at the bottom runs them in order
 * and merges them into the one JSON line.
 *  - backup verify: a lab node seeded with N KV v2 secrets, snapshotted by `backup snapshot`, then
 *    the whole `backup verify` drill (offline check, throwaway server, restore, unseal with the
 *    lab's shares, root token, baseline checks, stop); bound 60 s for 10,000 secrets.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import pLimit from 'p-limit';
import { createBackups } from '../src/backup/backup.service.js';
import { renderTable } from '../src/cli/output.js';
import { readLabFile } from '../src/lab/lab-file.js';
import { labClient, labDown, labUp } from '../src/lab/lab.service.js';
import { silentLogger } from '../src/logging/logger.js';
import { Store } from '../src/store/store.js';

const { values } = parseArgs({
  options: {
    secrets: { type: 'string', default: '10000' },
  },
  allowPositionals: true,
});
const SECRETS = Number(values.secrets);
const BACKUP_VERIFY_BOUND = 60;
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
        params: { secrets: SECRETS, snapshot_bytes: record.bytes, nodes: 1 },
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

// One line per part; a part is measured on its own lab and leaves nothing running.
const parts: (() => Promise<BenchPart>)[] = [backupVerify];

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
