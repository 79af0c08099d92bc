import { existsSync, statSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { z } from 'zod';
import { createBackups } from '../../backup/backup.service.js';
import { SealwatchError, UsageError } from '../../errors.js';
import type { Step, StepContext } from '../../playbook/step.js';
import { isPostgresUrl } from '../../store/store.js';
import type { Finding } from '../finding.js';
import { nodeHost } from '../raft/node-host.js';
import { raftFindings } from '../raft/raft-findings.js';
import { recoverNodesStep, rejoinStep, waitHealthyStep } from '../raft/raft-steps.js';
import { diagnosisView, serverOf } from '../raft/raft-view.js';
import { durationFlag, type Diagnosis, type Runbook, type RunbookDeps } from '../runbook.js';
import { RESTART_COMMAND_FLAG, WAIT_FLAG } from '../flags.js';
import { dataDirFindings, inspectDataDir, snapshotFindings } from '../storage/data-dir.js';

const NAME = 'storage';

const optionsSchema = z.object({
  /** Raft data directory per node (API address or node id → path), beside what a lab file says. */
  dataDir: z.record(z.string(), z.string().min(1)).default({}),
  /** Where the safety snapshot goes (default: `backups/` beside the SQLite store, as `backup snapshot`). */
  snapshotDir: z.string().min(1).optional(),
  /** A snapshot older than this is a finding. */
  maxSnapshotAgeMs: z
    .int()
    .min(60_000)
    .default(24 * 3_600_000),
  restartCommand: z.string().min(1).optional(),
  waitMs: z.int().min(1_000).default(120_000),
});
type StorageOptions = z.infer<typeof optionsSchema>;

const hostOf = (deps: RunbookDeps, options: StorageOptions) =>
  nodeHost(deps, { dataDirs: options.dataDir, restartCommand: options.restartCommand });

function parseDataDir(value: string, previous: unknown): Record<string, string> {
  const at = value.indexOf('=');
  if (at <= 0 || at === value.length - 1)
    throw new UsageError(`--data-dir ${value}: give NODE=PATH (NODE: an API address or a raft node id)`);
  const node = value.slice(0, at).replace(/\/+$/, '');
  return { ...(previous as Record<string, string> | undefined), [node]: resolve(value.slice(at + 1)) };
}

async function diagnoseStorage(deps: RunbookDeps, options: StorageOptions): Promise<Finding[]> {
  const host = hostOf(deps, options);
  const [view, newest] = await Promise.all([
    diagnosisView(deps.vault, host.members()),
    deps.store.backups.list(1).then((rows) => rows[0]),
  ]);
  const usages = deps.vault.addresses.flatMap((node) => {
    const dir = host.dataDir(node);
    return dir ? [inspectDataDir(node, dir)] : [];
  });
  const disk = dataDirFindings(usages).map((f) => {
    if (f.id !== 'data-dir-wiped' || !f.node) return f;
    const n = view.nodes.find((x) => x.node === f.node);
    const server = serverOf(view, f.node);
    return {
      ...f,
      evidence: {
        ...f.evidence,
        answers: !n?.error,
        initialized: n?.seal?.initialized ?? null,
        sealed: n?.seal?.sealed ?? null,
        in_raft: server !== undefined,
        ...(server
          ? {
              node_id: server.node_id,
              peer_healthy: view.autopilot?.servers[server.node_id]?.healthy ?? null,
            }
          : {}),
      },
    };
  });
  return [...raftFindings(view, NAME), ...disk, ...snapshotFindings(newest, options.maxSnapshotAgeMs)];
}

function defaultSnapshotDir(deps: RunbookDeps): string {
  const url = deps.config.store.url;
  return isPostgresUrl(url) ? resolve('.sealwatch', 'backups') : join(dirname(url), 'backups');
}

const wiped = (findings: readonly Finding[]) =>
  findings.filter((f) => f.id === 'data-dir-wiped' && f.node).map((f) => f.node!);

/** The safety net: nothing is removed from the cluster before this snapshot is on disk and recorded. */
function snapshotStep(
  deps: RunbookDeps,
  options: StorageOptions,
  diagnosis: Diagnosis,
): Step<StorageOptions> {
  return {
    id: 'snapshot',
    title: 'Take a raft snapshot before touching anything',
    targetSeconds: 60,
    needsApproval: false,
    skip: async (ctx) =>
      (await diagnosis(ctx)).every((f) => f.severity === 'info')
        ? 'storage is healthy: nothing will be changed'
        : undefined,
    plan: async () => [
      {
        action: `save a raft snapshot (sha256, recorded in the store) in ${options.snapshotDir ?? defaultSnapshotDir(deps)}`,
      },
    ],
    run: async (ctx) => {
      const backups = createBackups({
        vault: deps.vault,
        store: deps.store,
        logger: deps.logger,
        progress: ctx.progress,
      });
      const record = await backups.snapshot({
        dir: options.snapshotDir ? resolve(options.snapshotDir) : defaultSnapshotDir(deps),
      });
      const snapshot = {
        backup_id: record.id,
        file: record.file,
        bytes: record.bytes,
        sha256: record.sha256,
      };
      return { evidence: snapshot, outputs: snapshot };
    },
  };
}

/** Refuses the destructive step unless this incident's snapshot exists on disk with its recorded size. */
async function requireSnapshot(deps: RunbookDeps, ctx: StepContext<unknown>): Promise<void> {
  const out = ctx.outputs['snapshot'];
  const file = typeof out?.['file'] === 'string' ? out['file'] : undefined;
  const recorded =
    typeof out?.['backup_id'] === 'string' ? await deps.store.backups.get(out['backup_id']) : undefined;
  if (!file || !recorded || !existsSync(file) || statSync(file).size !== recorded.bytes)
    throw new SealwatchError(
      'snapshot_required',
      `no snapshot of this incident on disk${file ? ` (${file})` : ''}: nothing is removed from raft before one exists; resume to take it`,
    );
}

export const storageRunbook: Runbook<StorageOptions> = {
  name: NAME,
  title: 'Storage backend errors',
  when: 'raft errors (peers autopilot calls unhealthy, a configuration a node cannot read), a wiped or corrupted data directory, a full disk, no recent snapshot',
  flags: [
    {
      flags: '--data-dir <node=path>',
      description:
        'raft data directory of a node (repeatable; NODE: API address or node id; a lab knows its own)',
      diagnose: true,
      parse: parseDataDir,
    },
    durationFlag(
      '--max-snapshot-age <duration>',
      'maxSnapshotAgeMs',
      'a newest snapshot older than this is a finding (default 24h)',
      { diagnose: true },
    ),
    {
      flags: '--snapshot-dir <dir>',
      description: 'where the safety snapshot goes (default: backups/ beside the store)',
    },
    RESTART_COMMAND_FLAG,
    WAIT_FLAG,
  ],
  options: optionsSchema,
  diagnose: diagnoseStorage,
  remediation: (deps, options, diagnosis) => {
    const host = hostOf(deps, options);
    return [
      snapshotStep(deps, options, diagnosis),
      rejoinStep(deps, host, diagnosis, options.waitMs, {
        id: 'remove-and-rejoin',
        corrupted: wiped,
        precondition: (ctx) => requireSnapshot(deps, ctx),
      }),
      recoverNodesStep(deps, host, diagnosis, options.waitMs),
      waitHealthyStep(deps, host, options.waitMs, NAME),
    ];
  },
};
