import { createReadStream, statSync } from 'node:fs';
import { resolve } from 'node:path';
import { z } from 'zod';
import { checkAgainstBaseline, takeBaseline } from '../../backup/baseline.js';
import { newestVerifiedSnapshot } from '../../backup/newest-verified.js';
import { missingAgainstBaseline } from '../cluster-failure/data-loss.js';
import { errorMessage, SealwatchError } from '../../errors.js';
import type { StepContext } from '../../playbook/step.js';
import type { BackupRecord } from '../../store/repositories/backup.repository.js';
import { waitFor } from '../../util/wait.js';
import { REINITIALISE_ADVICE, chooseSnapshot } from '../cluster-failure/snapshot-choice.js';
import {
  baselineChecks,
  isTemporarySeal,
  restartNode,
  restoreIntoEmptyNode,
  unsealActive,
} from '../cluster-failure/restore.js';
import { probeNodes, type NodeProbe } from '../nodes.js';
import { nodeHost } from '../raft/node-host.js';
import { currentShares } from '../key-shares.js';
import { bringIntoRaft, waitRaftHealthy } from '../raft/rejoin.js';
import { isHealthy, type Finding } from '../finding.js';
import { type Diagnosis, type Runbook, type RunbookDeps } from '../runbook.js';
import { recordedShares, unfinishedRestore } from '../cluster-failure/share-evidence.js';
import { RESTART_COMMAND_FLAG, WAIT_FLAG } from '../flags.js';

const optionsSchema = z.object({
  /** The snapshot file to restore (default: the newest verified one). */
  snapshot: z.string().min(1).optional(),
  /** The command that (re)starts a node's process; `{node}` becomes its address. */
  restartCommand: z.string().min(1).optional(),
  /** How long to wait for nodes to answer, unseal, join and become voters. */
  waitMs: z.int().min(1_000).default(120_000),
});
type ClusterFailureOptions = z.infer<typeof optionsSchema>;

const NAME = 'cluster-failure';
/** A hardening finding (one key share unseals the cluster): reported, but not a failed cluster. */
const SINGLE_KEY_SHARE = 'single-key-share';
/** What only a restore (or a start of the processes) fixes; the steps skip when none of it was seen. */
const RESTORE_FINDINGS = new Set([
  'cluster-down',
  'cluster-uninitialized',
  'data-missing',
  'temporary-initialisation',
]);
/** What the join step brings back: every node answering, initialised, unsealed, a voter. */
const JOIN_FINDINGS = new Set([
  ...RESTORE_FINDINGS,
  'node-down',
  'node-not-joined',
  'node-sealed',
  'cluster-sealed',
]);

function age(seconds: number): string {
  if (seconds < 120) return `${Math.round(seconds)} s`;
  if (seconds < 7200) return `${Math.round(seconds / 60)} min`;
  if (seconds < 172_800) return `${Math.round(seconds / 3600)} h`;
  return `${Math.round(seconds / 86_400)} days`;
}

async function snapshotFindings(
  deps: RunbookDeps,
  options: ClusterFailureOptions,
  dataGone: boolean,
): Promise<Finding[]> {
  if (options.snapshot) {
    const file = resolve(options.snapshot);
    const bytes = (() => {
      try {
        return statSync(file).size;
      } catch {
        // A missing snapshot file is reported by the finding below (bytes unknown).
        return undefined;
      }
    })();
    const record = await deps.store.backups.findByFile(file);
    return [
      {
        id: 'chosen-snapshot',
        severity: bytes === undefined && dataGone ? 'high' : 'info',
        symptom:
          bytes === undefined
            ? `the snapshot given (${file}) cannot be read`
            : `restore would use ${file}${record ? ` (backup ${record.id} taken ${record.taken_at})` : ' (not recorded by backup snapshot: no baseline to compare)'}`,
        evidence: {
          file,
          ...(bytes !== undefined ? { bytes } : { readable: false }),
          ...(record ? { backup_id: record.id, taken_at: record.taken_at, sha256: record.sha256 } : {}),
        },
        suggested_step: `sealwatch runbook run ${NAME} --snapshot ${file} (checked offline before anything is initialised)`,
      },
    ];
  }
  const newest = await newestVerifiedSnapshot(deps);
  if (!newest)
    return [
      {
        id: 'no-verified-snapshot',
        severity: dataGone ? 'high' : 'info',
        symptom: dataGone
          ? 'no verified snapshot to restore from: no recorded snapshot has passed a restore drill'
          : 'no recorded snapshot has passed a restore drill (backup verify)',
        evidence: {
          recorded_snapshots: (await deps.store.backups.list(1)).length > 0,
          ...(dataGone
            ? {
                rests_on:
                  'the findings above that the data is gone, and no recorded snapshot with a passed restore drill',
              }
            : {}),
        },
        // Reinitialising is advice only when the data is gone; a healthy cluster needs a snapshot.
        suggested_step: dataGone
          ? REINITIALISE_ADVICE
          : 'take a snapshot and drill its restore: sealwatch backup snapshot, then sealwatch backup verify FILE',
      },
    ];
  const seconds = (Date.now() - Date.parse(newest.backup.taken_at)) / 1000;
  const drill = newest.verification;
  return [
    {
      id: 'verified-snapshot',
      severity: 'info',
      symptom: `newest verified snapshot: ${newest.backup.file}, taken ${age(seconds)} ago, restore drill passed ${drill.finished_at}`,
      evidence: {
        file: newest.backup.file,
        backup_id: newest.backup.id,
        sha256: newest.backup.sha256,
        bytes: newest.backup.bytes,
        taken_at: newest.backup.taken_at,
        age_seconds: Math.round(seconds),
        age: age(seconds),
        last_drill: {
          finished_at: drill.finished_at,
          ok: drill.ok,
          seconds: drill.seconds['total'] ?? null,
        },
      },
      suggested_step: dataGone
        ? `sealwatch runbook run ${NAME} (restores this snapshot; --snapshot F for another)`
        : 'keep taking and drilling snapshots (backup snapshot, backup verify)',
    },
  ];
}

/** Counts below the newest recorded snapshot's baseline, or sampled versions that no longer read back. */
async function dataFindings(
  deps: RunbookDeps,
  active: string,
  latest: BackupRecord | undefined,
): Promise<Finding[]> {
  if (!latest) return [];
  let missing: Record<string, string>;
  try {
    const [now, checks] = await Promise.all([
      takeBaseline(deps.vault, { sampleSize: 0 }),
      checkAgainstBaseline(deps.vault, latest.baseline),
    ]);
    missing = missingAgainstBaseline(
      latest.baseline,
      now,
      checks.find((c) => c.id === 'kv_sample'),
    );
  } catch (error) {
    const detail = errorMessage(error).split('\n')[0]!;
    return [
      {
        id: 'data-unchecked',
        severity: 'low',
        symptom: `the data could not be compared with snapshot ${latest.id}: ${detail}`,
        evidence: { backup_id: latest.id, error: detail },
        node: active,
        suggested_step: 'give a token that may read sys/policies, sys/auth, sys/mounts and the KV mounts',
      },
    ];
  }
  if (Object.keys(missing).length === 0) return [];
  return [
    {
      id: 'data-missing',
      severity: 'high',
      symptom: `the cluster answers but data recorded in snapshot ${latest.id} is missing: ${Object.values(missing).join('; ')}`,
      evidence: {
        backup_id: latest.id,
        taken_at: latest.taken_at,
        checks: missing,
        rests_on: `the live counts and sampled secret versions against the baseline recorded with backup ${latest.id}`,
      },
      node: active,
      suggested_step: `sealwatch runbook run ${NAME} (restores the snapshot; approval needed)`,
    },
  ];
}

/**
 * 1-of-1 nodes. A restore initialises a node with a temporary 1-of-1 key before the snapshot
 * brings the cluster's own seal back, so a 1-of-1 node is a temporary initialisation only on
 * evidence: a share count recorded for this cluster that differs, or a restore this runbook started
 * and did not finish. Without it (small and staging servers are often initialised with one share)
 * it is a hardening finding: one key share unseals the cluster. Never a restore on a guess.
 */
async function shareCountFindings(
  deps: RunbookDeps,
  initialised: NodeProbe[],
): Promise<{ temporary: NodeProbe[]; findings: Finding[] }> {
  const oneOfOne = initialised.filter((p) => p.seal!.n === 1 && p.seal!.t === 1);
  if (oneOfOne.length === 0) return { temporary: [], findings: [] };
  const [recorded, restore] = await Promise.all([recordedShares(deps), unfinishedRestore(deps)]);
  const differs = recorded !== undefined && (recorded.shares !== 1 || recorded.threshold !== 1);
  if (!differs && !restore)
    return {
      temporary: [],
      findings: oneOfOne.map((p) => ({
        id: SINGLE_KEY_SHARE,
        severity: 'low',
        symptom: `${p.node} is initialised with a single key share: one share unseals the cluster (no other share count is on record and no restore is unfinished, so this is taken as how it was set up)`,
        evidence: {
          shares: p.seal!.n,
          threshold: p.seal!.t,
          recorded_shares: recorded
            ? `${recorded.threshold} of ${recorded.shares} (${recorded.source})`
            : null,
          unfinished_restore: null,
        },
        node: p.node,
        suggested_step:
          'hardening: rekey to several shares held by different people (bao operator rekey -init -key-shares=5 -key-threshold=3, or the rekey step of sealwatch respond breach)',
      })),
    };
  const restsOn = [
    ...(differs
      ? [`${recorded.source} recorded the cluster's seal as ${recorded.threshold} of ${recorded.shares}`]
      : []),
    ...(restore
      ? [
          `restore of incident ${restore.incident} started${restore.started_at ? ` ${restore.started_at}` : ''} and is ${restore.status}`,
        ]
      : []),
  ].join('; ');
  return {
    temporary: oneOfOne,
    findings: oneOfOne.map((p) => ({
      id: 'temporary-initialisation',
      severity: 'high',
      symptom: `${p.node} is initialised with a single 1-of-1 key share${differs ? `, not the cluster's ${recorded.threshold} of ${recorded.shares}` : ''}: an interrupted restore, or initialised by hand`,
      evidence: {
        shares: p.seal!.n,
        threshold: p.seal!.t,
        sealed: p.seal!.sealed,
        recorded_shares: differs ? `${recorded.threshold} of ${recorded.shares} (${recorded.source})` : null,
        unfinished_restore: restore ?? null,
        rests_on: restsOn,
      },
      node: p.node,
      suggested_step: `sealwatch runbook run ${NAME} (restarts it; a temporary initialisation without the snapshot is moved aside and restored afresh)`,
    })),
  };
}

async function diagnoseClusterFailure(deps: RunbookDeps, options: ClusterFailureOptions): Promise<Finding[]> {
  const probes = await probeNodes(deps.vault);
  const answering = probes.filter((p) => !p.error);
  const initialised = answering.filter((p) => p.seal!.initialized);
  const findings: Finding[] = [];
  const errors = (list: NodeProbe[]) => Object.fromEntries(list.map((p) => [p.node, p.error]));
  if (answering.length === 0) {
    findings.push({
      id: 'cluster-down',
      severity: 'critical',
      symptom: `no node answers (${probes.length} configured): ${probes.map((p) => `${p.node}: ${p.error}`).join('; ')}`,
      evidence: {
        nodes: errors(probes),
        rests_on: `none of the ${probes.length} configured node(s) answered sys/seal-status`,
      },
      suggested_step: `start the OpenBao processes (sealwatch runbook run ${NAME} starts lab nodes, or give --restart-command CMD), then diagnose again`,
    });
  } else if (initialised.length === 0) {
    findings.push({
      id: 'cluster-uninitialized',
      severity: 'critical',
      symptom: `${answering.length} node(s) answer but none is initialised: the cluster's data is gone`,
      evidence: {
        uninitialised: answering.map((p) => p.node),
        version: answering[0]!.seal!.version,
        ...(answering.length < probes.length ? { unreachable: errors(probes.filter((p) => p.error)) } : {}),
        rests_on: `every node that answered reports initialized: false on sys/seal-status`,
      },
      suggested_step: `sealwatch runbook run ${NAME} (restores the newest verified snapshot; --snapshot F for another)`,
    });
  } else {
    for (const p of probes.filter((x) => x.error))
      findings.push({
        id: 'node-down',
        severity: 'medium',
        symptom: `${p.node} does not answer: ${p.error}`,
        evidence: { error: p.error },
        node: p.node,
        suggested_step: `start its process; sealwatch runbook run ${NAME} (or leader-election) starts and joins it`,
      });
    for (const p of answering.filter((x) => !x.seal!.initialized))
      findings.push({
        id: 'node-not-joined',
        severity: 'high',
        symptom: `${p.node} answers but is not initialised: it lost its data or never joined`,
        evidence: { initialized: false },
        node: p.node,
        suggested_step: `sealwatch runbook run ${NAME} (joins it to the active node and unseals it)`,
      });
    const sealed = initialised.filter((p) => p.seal!.sealed);
    if (sealed.length === initialised.length)
      findings.push({
        id: 'cluster-sealed',
        severity: 'high',
        symptom: `every initialised node is sealed (${sealed.map((p) => p.node).join(', ')})`,
        evidence: {
          sealed: sealed.map((p) => p.node),
          threshold: sealed[0]!.seal!.t,
          shares: sealed[0]!.seal!.n,
        },
        suggested_step: `sealwatch runbook run ${NAME} (or sealed) with the key shares`,
      });
    else
      for (const p of sealed)
        findings.push({
          id: 'node-sealed',
          severity: 'medium',
          symptom: `${p.node} is sealed`,
          evidence: { threshold: p.seal!.t, shares: p.seal!.n },
          node: p.node,
          suggested_step: 'sealwatch runbook run sealed',
        });
    const [latest] = await deps.store.backups.list(1);
    const { temporary, findings: shareFindings } = await shareCountFindings(deps, initialised);
    findings.push(...shareFindings);
    const active = answering.find((p) => p.health?.httpStatus === 200);
    if (active && temporary.length === 0) findings.push(...(await dataFindings(deps, active.node, latest)));
  }
  const dataGone = findings.some((f) => RESTORE_FINDINGS.has(f.id));
  findings.push(...(await snapshotFindings(deps, options, dataGone)));
  return findings;
}

const restoreSeen = async (diagnosis: Diagnosis, ctx: StepContext<unknown>) =>
  (await diagnosis(ctx)).some((f) => RESTORE_FINDINGS.has(f.id));

const chosenOf = (ctx: StepContext<unknown>) =>
  ctx.outputs['choose-snapshot'] as
    { needed: boolean; file?: string; sha256?: string; backup_id?: string | null } | undefined;

/** The node that holds (or is to receive) the cluster's data: one initialised with the cluster's own seal, else the first that answers. */
async function restoreTarget(deps: RunbookDeps, backupId: string | null | undefined): Promise<string> {
  const record = backupId ? await deps.store.backups.get(backupId) : undefined;
  const probes = await probeNodes(deps.vault);
  const ownSeal = probes.filter((p) => p.seal?.initialized && !isTemporarySeal(p.seal, record));
  // A live cluster missing data is restored through its active node.
  const own = ownSeal.find((p) => p.health?.httpStatus === 200) ?? ownSeal[0];
  const any = own ?? probes.find((p) => p.seal?.initialized) ?? probes.find((p) => !p.error);
  if (!any)
    throw new SealwatchError(
      'cluster_down',
      `no node answers: ${probes.map((p) => `${p.node}: ${p.error}`).join('; ')}`,
    );
  return any.node;
}

export const clusterFailureRunbook: Runbook<ClusterFailureOptions> = {
  name: NAME,
  title: 'Complete cluster failure',
  when: 'no node answers, or nodes answer uninitialised / without their data (disk lost, data dirs wiped)',
  flags: [
    {
      flags: '--snapshot <file>',
      description: 'the raft snapshot to restore (default: the newest verified one)',
      diagnose: true,
      // Journalled and parsed again on resume: the absolute path, whatever the working directory then.
      parse: (value) => resolve(value),
    },
    RESTART_COMMAND_FLAG,
    WAIT_FLAG,
  ],
  options: optionsSchema,
  diagnose: diagnoseClusterFailure,
  // One key share is weak, not broken: the cluster is up with its data, nothing here restores it.
  healthy: (findings) => isHealthy(findings.filter((f) => f.id !== SINGLE_KEY_SHARE)),
  remediation: (deps, options, diagnosis) => {
    const host = nodeHost(deps, { restartCommand: options.restartCommand });
    const notNeeded = (ctx: StepContext<unknown>) =>
      chosenOf(ctx)?.needed === false ? 'the cluster still has its data: nothing to restore' : undefined;
    return [
      {
        id: 'start-nodes',
        title: 'Wait for every node process to answer',
        targetSeconds: 120,
        needsApproval: false,
        skip: async (ctx) =>
          (await diagnosis(ctx)).some((f) => f.id === 'cluster-down' || f.id === 'node-down')
            ? undefined
            : 'every node answers',
        plan: async () =>
          deps.vault.addresses.map((node) => ({
            action: host.canStart(node)
              ? `start ${node} if it does not answer${options.restartCommand ? ` (${options.restartCommand})` : ' (lab)'}`
              : `wait for the operator to start ${node}`,
          })),
        run: async (ctx) => {
          const started: string[] = [];
          for (const p of await probeNodes(deps.vault)) {
            if (!p.error) continue;
            if (host.canStart(p.node)) {
              ctx.progress(`${p.node}: not answering (${p.error}); starting it`);
              await host.start(p.node);
              started.push(p.node);
            } else ctx.progress(`${p.node}: not answering; waiting for its process to be started`);
          }
          await waitFor(
            'every node to answer',
            async () => (await probeNodes(deps.vault)).every((p) => !p.error),
            { timeoutMs: options.waitMs, intervalMs: 500 },
          );
          return { evidence: { started, answering: deps.vault.addresses.length } };
        },
      },
      {
        id: 'choose-snapshot',
        title: 'Choose the snapshot and check it offline',
        targetSeconds: 30,
        needsApproval: false,
        skip: async (ctx) => ((await restoreSeen(diagnosis, ctx)) ? undefined : 'the cluster has its data'),
        plan: async () => [
          {
            action: options.snapshot
              ? `check ${options.snapshot} offline (gzip'd tar, SHA256SUMS, sha256 against the record)`
              : 'take the newest snapshot whose restore drill passed; re-check its file and sha256',
          },
        ],
        run: async (ctx) => {
          const fresh = await diagnoseClusterFailure(deps, options);
          const gone = fresh.some((f) => f.id === 'cluster-uninitialized' || f.id === 'data-missing');
          // Only on the diagnosis's evidence (a recorded share count, an unfinished restore).
          const interrupted = fresh.some((f) => f.id === 'temporary-initialisation');
          if (!gone && !interrupted && !options.snapshot)
            return {
              evidence: { needed: false, reason: 'the nodes came back with their data' },
              outputs: { needed: false },
            };
          const chosen = await chooseSnapshot(deps, options.snapshot);
          ctx.progress(
            `snapshot ${chosen.file}: ${chosen.bytes} bytes, sha256 ${chosen.sha256.slice(0, 16)}…${chosen.record ? ` (backup ${chosen.record.id}, taken ${chosen.record.taken_at})` : ' (not recorded: no baseline)'}${chosen.verified ? '' : ' — NOT verified by a restore drill'}`,
          );
          const facts = {
            needed: true,
            file: chosen.file,
            sha256: chosen.sha256,
            bytes: chosen.bytes,
            backup_id: chosen.record?.id ?? null,
            taken_at: chosen.record?.taken_at ?? null,
            verified: chosen.verified,
          };
          return { evidence: facts, outputs: facts };
        },
      },
      {
        id: 'restore-snapshot',
        title: 'Initialise one node temporarily and force-restore the snapshot into it',
        targetSeconds: 120,
        needsApproval: true,
        skip: async (ctx) =>
          (await restoreSeen(diagnosis, ctx)) ? notNeeded(ctx) : 'the cluster has its data',
        plan: async (ctx) => {
          const chosen = chosenOf(ctx);
          const file = chosen?.file ?? options.snapshot ?? 'the newest verified snapshot';
          return [
            {
              action: `initialise the first empty node with a temporary 1-of-1 key (kept in memory only) and unseal it`,
            },
            { action: `force-restore ${file} into it (replaces whatever it holds)`, destructive: true },
            {
              action: `wait for it to seal itself, then restart it${options.restartCommand ? ` (${options.restartCommand})` : ''} so it reads the restored seal configuration`,
            },
          ];
        },
        run: async (ctx) => {
          const chosen = chosenOf(ctx);
          if (!chosen?.file) throw new SealwatchError('no_snapshot_chosen', 'no snapshot was chosen');
          const record = chosen.backup_id ? await deps.store.backups.get(chosen.backup_id) : undefined;
          const target = await restoreTarget(deps, chosen.backup_id);
          const done: string[] = [];
          for (let round = 0; round < 3; round++) {
            const seal = await deps.vault.sealStatus(target);
            if (!seal.initialized) {
              await restoreIntoEmptyNode(deps, host, target, chosen.file, ctx, options.restartCommand);
              done.push('restored', 'restarted');
              continue;
            }
            if (isTemporarySeal(seal, record)) {
              // Either a restore applied before a cut-off (the restart makes it read the restored
              // seal) or a temporary initialisation whose key died with the last run.
              ctx.progress(`${target}: holds the temporary 1-of-1 seal; restarting it`);
              await restartNode(deps, host, target, options.restartCommand, 'resume of a restore');
              done.push('restarted');
              if (!isTemporarySeal(await deps.vault.sealStatus(target), record)) continue;
              ctx.progress(`${target}: a temporary initialisation without the snapshot; starting it empty`);
              const moved = await host.reset(target);
              done.push(`temporary data moved to ${moved.moved_to}`);
              continue;
            }
            if (seal.sealed)
              return {
                evidence: {
                  node: target,
                  done,
                  seal: `${seal.t} of ${seal.n}`,
                  state: 'sealed with the cluster seal',
                },
                outputs: { node: target },
              };
            // Unsealed with the cluster's own seal: restored already, or a live cluster missing data.
            const checks = await baselineChecks(deps, record);
            if (checks.every((c) => c.ok))
              return {
                evidence: { node: target, done, state: 'the data of the snapshot is there' },
                outputs: { node: target },
              };
            ctx.progress(
              `${target}: data missing (${checks
                .filter((c) => !c.ok)
                .map((c) => c.detail)
                .join('; ')}); force-restoring`,
            );
            await deps.vault.restoreSnapshot(createReadStream(chosen.file), { force: true, node: target });
            done.push('restored into the running cluster');
            const outcome = await waitFor(
              `${target} to apply the snapshot`,
              async () => {
                if ((await deps.vault.health(target)).sealed) return 'sealed';
                return (await baselineChecks(deps, record)).every((c) => c.ok) ? 'applied' : undefined;
              },
              { timeoutMs: 60_000, intervalMs: 250 },
            );
            if (outcome === 'sealed') {
              await restartNode(
                deps,
                host,
                target,
                options.restartCommand,
                'it must re-read the restored seal configuration',
              );
              done.push('restarted');
            }
            return { evidence: { node: target, done }, outputs: { node: target } };
          }
          throw new SealwatchError(
            'restore_failed',
            `${target}: the restore did not take after 3 attempts (${done.join(', ')})`,
          );
        },
      },
      {
        id: 'unseal-restored',
        title: 'Unseal the restored node with the original key shares',
        targetSeconds: 60,
        needsApproval: false,
        skip: async (ctx) =>
          (await restoreSeen(diagnosis, ctx)) || (await diagnosis(ctx)).some((f) => f.id === 'cluster-sealed')
            ? notNeeded(ctx)
            : 'nothing was restored',
        plan: async () => [
          {
            action:
              'unseal the restored node with the threshold of the original shares and wait until it is active',
          },
        ],
        run: async (ctx) => {
          const restored = ctx.outputs['restore-snapshot'] as { node?: string } | undefined;
          const node = restored?.node ?? (await restoreTarget(deps, chosenOf(ctx)?.backup_id));
          const seal = await deps.vault.sealStatus(node);
          if (!seal.initialized)
            throw new SealwatchError(
              'restore_failed',
              `${node} is not initialised: the restore did not take; run the restore step again (incident resume)`,
            );
          const shares = seal.sealed ? await currentShares(deps, seal.t) : [];
          for (const share of shares) ctx.sensitive?.(share);
          if (!seal.sealed) {
            // Unsealed already (a live cluster restored in place): any active node will do.
            const active = await waitFor(
              'an active node',
              async () => (await probeNodes(deps.vault)).find((p) => p.health?.httpStatus === 200)?.node,
              { timeoutMs: options.waitMs, intervalMs: 250 },
            );
            return {
              evidence: { node: active, active: true, already_unsealed: true },
              outputs: { node: active },
            };
          }
          const { threshold } = await unsealActive(deps, node, shares, options.waitMs);
          return { evidence: { node, active: true, threshold }, outputs: { node } };
        },
      },
      {
        id: 'join-nodes',
        title: 'Join the other nodes to the restored node and unseal them',
        targetSeconds: 180,
        needsApproval: false,
        skip: async (ctx) =>
          (await diagnosis(ctx)).some((f) => JOIN_FINDINGS.has(f.id))
            ? undefined
            : 'every node is in the cluster',
        plan: async () => [
          {
            action:
              'restart each empty node (a join attempt made against the temporary key is dropped), join it to the active node (sys/storage/raft/join), unseal it with the original shares, wait for one leader and every node a healthy voter',
          },
        ],
        run: async (ctx) => {
          const leader = (ctx.outputs['unseal-restored'] as { node?: string } | undefined)?.node;
          const results: Record<string, unknown>[] = [];
          const active = (await probeNodes(deps.vault)).find((p) => p.health?.httpStatus === 200);
          const clusterSeal = active?.seal;
          for (const node of deps.vault.addresses) {
            if (node === leader || node === active?.node) continue;
            // A node that does not answer is not stale-sealed; the join below reports it.
            const seal = await deps.vault.sealStatus(node).catch(() => undefined);
            // An empty node that retry_joined while the restored node held the temporary key waits
            // with that key's 1-of-1 seal and would refuse the original shares: restart it clean.
            const stale =
              seal?.sealed &&
              (!seal.initialized ||
                (clusterSeal !== undefined && (seal.n !== clusterSeal.n || seal.t !== clusterSeal.t)));
            if (stale && host.canStart(node)) {
              ctx.progress(
                `${node}: empty or mid-join against the temporary key; restarting it before it joins`,
              );
              await restartNode(deps, host, node, options.restartCommand, 'drop a stale join attempt');
            }
            results.push(await bringIntoRaft(deps, host, node, ctx, options.waitMs));
          }
          const raft = await waitRaftHealthy(deps, host, options.waitMs, NAME);
          return { evidence: { nodes: results, raft_seconds: raft.seconds } };
        },
      },
      {
        id: 'verify-data',
        title: 'Verify the data of the snapshot came back',
        targetSeconds: 30,
        needsApproval: false,
        skip: async (ctx) => ((await restoreSeen(diagnosis, ctx)) ? notNeeded(ctx) : 'nothing was restored'),
        plan: async () => [
          {
            action:
              'read the sampled KV secrets at their recorded versions; count policies, auth mounts and secret mounts against the snapshot baseline',
          },
        ],
        run: async (ctx) => {
          const chosen = chosenOf(ctx);
          const record = chosen?.backup_id ? await deps.store.backups.get(chosen.backup_id) : undefined;
          const checks = await baselineChecks(deps, record);
          const failed = checks.filter((c) => !c.ok);
          if (failed.length > 0)
            throw new SealwatchError(
              'restore_incomplete',
              `the restored cluster does not match snapshot ${chosen?.backup_id ?? chosen?.file ?? ''}: ${failed.map((c) => `${c.id}: ${c.detail}`).join('; ')}`,
            );
          return { evidence: Object.fromEntries(checks.map((c) => [c.id, c.detail])) };
        },
      },
    ];
  },
};
