import { setTimeout as sleep } from 'node:timers/promises';
import pLimit, { type LimitFunction } from 'p-limit';
import { SealwatchError } from '../errors.js';
import type { Logger } from '../logging/logger.js';
import { isSecretKey, redactedErrorLine, registerSecret } from '../logging/redactor.js';
import type {
  ItemUpdate,
  RotationItem as StoredRotationItem,
  RotationPhase,
} from '../store/repositories/rotation.repository.js';
import type { VaultClient } from '../vault/client.js';
import {
  NoUsableNodeError,
  SealedError,
  UnreachableError,
  VaultError,
  VaultTimeoutError,
} from '../vault/errors.js';
import type { KvV2 } from '../vault/kv.js';
import { RotationError } from './rotation.errors.js';
import {
  VAULT_ONLY_TARGET,
  type RotationInput,
  type Rotator,
  type RotatorKind,
  type SecretData,
  type SecretRef,
} from './rotator.js';

/** An item of a kind this sealwatch rotates: the service checks the stored kind names before the engine runs. */
type RotationItem = StoredRotationItem<RotatorKind>;

/**
 * The four-phase protocol for one secret, crash-safe:
 *
 *   stage     the new value becomes a new KV v2 version (check-and-set on the version in use) and the
 *             secret's custom metadata says `sealwatch_state=pending` with both version numbers;
 *   apply     the target learns the new value (rotator);
 *   verify    the new value is used and works (rotator);
 *   finalize  metadata says `current` with the new version; the target drops the old credential;
 *             the old version is retired (soft-deleted, destroyed when asked) after the grace period.
 *
 * The journal row of the secret is written before a phase (`in_phase`) and after it (`phase`), and
 * every phase is idempotent, so a resumed run repeats at most the phase it was in. Until finalize,
 * the version in use is `sealwatch_current_version`; a failed secret is rolled back to it.
 */

export const META = {
  state: 'sealwatch_state',
  run: 'sealwatch_run',
  current: 'sealwatch_current_version',
  pending: 'sealwatch_pending_version',
  previous: 'sealwatch_previous_version',
  rotatedAt: 'sealwatch_rotated_at',
} as const;

export interface Journal {
  updateItem(id: number, update: ItemUpdate): Promise<void>;
}

export interface EngineOptions {
  runId: string;
  concurrency: number;
  perTarget: number;
  /** Secrets started per second at most; 0 for no limit. */
  rate: number;
  attempts: number;
  gracePeriodMs: number;
  destroyOld: boolean;
  /** Base of the backoff between attempts of a phase. */
  backoffMs?: number;
}

export interface EngineDeps {
  vault: Pick<VaultClient, 'kv' | 'mountOf'>;
  journal: Journal;
  rotators: Readonly<Record<RotatorKind, Rotator>>;
  logger: Logger;
}

/** What happened to one secret in this pass. */
export type ItemOutcome = 'rotated' | 'failed' | 'rolled_back' | 'skipped' | 'interrupted' | 'retire_pending';

/** A secret's failure the journal could not store: the run still counts and reports it. */
export interface UnrecordedFailure {
  itemId: number;
  state: 'failed' | 'rolled_back';
  /** The phase that failed. */
  phase: string;
  reason: string;
  /** Why the store refused to record it. */
  storeError: string;
}

export interface EngineResult {
  outcomes: Map<number, ItemOutcome>;
  unrecorded: UnrecordedFailure[];
}

export interface EngineProgress {
  done: number;
  total: number;
  outcome: ItemOutcome;
  item: RotationItem;
}

/** The cluster cannot be used right now (sealed, unreachable): stop this secret where it is, resume later. */
function isInterruption(error: unknown): boolean {
  return (
    error instanceof SealedError ||
    error instanceof UnreachableError ||
    error instanceof VaultTimeoutError ||
    (error instanceof NoUsableNodeError && error.failures.every((f) => isInterruption(f)))
  );
}

export class RotationEngine {
  private readonly kvs = new Map<string, Promise<{ kv: KvV2; relative: (path: string) => string }>>();
  private readonly targetLimits = new Map<string, LimitFunction>();
  private nextStartAt = 0;

  constructor(
    private readonly deps: EngineDeps,
    private readonly options: EngineOptions,
  ) {}

  /**
   * Runs every unfinished item; resolves when each has an outcome. Never throws for one secret's
   * failure; a failure the journal could not store is returned in `unrecorded`.
   */
  async run(
    items: readonly RotationItem[],
    onProgress: (progress: EngineProgress) => void = () => undefined,
    signal: AbortSignal = new AbortController().signal,
  ): Promise<EngineResult> {
    const global = pLimit(this.options.concurrency);
    const outcomes = new Map<number, ItemOutcome>();
    const unrecorded: UnrecordedFailure[] = [];
    let done = 0;
    await Promise.all(
      items.map((item) =>
        global(async () => {
          const outcome = signal.aborted ? 'interrupted' : await this.rotateOne(item, signal, unrecorded);
          outcomes.set(item.id, outcome);
          onProgress({ done: ++done, total: items.length, outcome, item });
        }),
      ),
    );
    return { outcomes, unrecorded };
  }

  private async rotateOne(
    item: RotationItem,
    signal: AbortSignal,
    unrecorded: UnrecordedFailure[],
  ): Promise<ItemOutcome> {
    const rotator = this.deps.rotators[item.kind];
    const ref: SecretRef = { tenant: item.tenant, kind: item.kind, path: item.path };
    const log = this.deps.logger.child({ tenant: item.tenant, kind: item.kind, path: item.path });
    let state = { ...item };
    const journal = async (update: ItemUpdate) => {
      state = { ...state, ...update };
      await this.deps.journal.updateItem(item.id, update);
    };
    try {
      if (state.in_phase === 'rollback') {
        // A rollback was under way when the process died: finish it, it is idempotent.
        await this.rollBack(state, rotator, ref, log, signal);
        await journal({ state: 'rolled_back', in_phase: null });
        return 'rolled_back';
      }
      const { kv, relative } = await this.kvFor(item.path);
      const rel = relative(item.path);
      const loaded = await this.load(state, kv, rel, rotator, ref);
      if (loaded === 'gone' && state.phase === 'finalized') {
        // A revoked secret was deleted just before the crash: retiring it is what remained.
        await journal({ phase: 'retired', in_phase: null, state: 'done' });
        return 'rotated';
      }
      if (loaded === 'gone') {
        await journal({
          state: 'skipped',
          error: 'secret no longer exists',
          error_phase: 'stage',
          in_phase: null,
        });
        return 'skipped';
      }
      const target = rotator.targetOf(ref, loaded.current);
      if (state.target !== target) await journal({ target });
      const limit: <T>(run: () => Promise<T>) => Promise<T> =
        target === VAULT_ONLY_TARGET ? (run) => run() : (run) => this.limitFor(target)(run);
      return await limit(async () => {
        if (state.phase === 'planned') await this.throttle();
        const input: RotationInput = { ref, current: loaded.current, next: loaded.next, logger: log, signal };
        const phases: [RotationPhase, RotationPhase, () => Promise<ItemUpdate | void>][] = [
          ['planned', 'staged', () => this.stage(state, kv, rel, input, loaded.custom)],
          ['staged', 'applied', () => rotator.apply(input)],
          ['applied', 'verified', () => rotator.verify(input)],
          ['verified', 'finalized', () => this.finalize(state, kv, rel, rotator, input, loaded.custom)],
        ];
        for (const [from, to, run] of phases) {
          if (state.phase !== from) continue;
          if (signal.aborted) return 'interrupted';
          await journal({ in_phase: to, state: 'running' });
          const update = await this.attempt(to, state, run, journal);
          await journal({ ...(update ?? {}), phase: to, in_phase: null, error: null, error_phase: null });
        }
        if (state.phase === 'finalized') {
          const retireAt = state.retire_after ? Date.parse(state.retire_after) : 0;
          if (retireAt > Date.now()) {
            await journal({ state: 'done' });
            return 'retire_pending';
          }
          await journal({ in_phase: 'retired' });
          await this.attempt('retired', state, () => this.retire(state, kv, rel, rotator, input), journal);
          await journal({ phase: 'retired', in_phase: null, state: 'done' });
        }
        return 'rotated';
      });
    } catch (error) {
      const failure = await this.handleFailure(error, state, rotator, ref, log, journal, signal);
      // An interrupted secret stays open in the store whatever happened: resume continues it.
      if (
        failure.storeError !== undefined &&
        (failure.outcome === 'failed' || failure.outcome === 'rolled_back')
      )
        unrecorded.push({
          itemId: item.id,
          state: failure.outcome,
          phase: failure.phase,
          reason: failure.reason,
          storeError: failure.storeError,
        });
      return failure.outcome;
    }
  }

  /** Reads the value in use and, once staged, the new one back from Vault (a resumed run has no other copy). */
  private async load(
    item: RotationItem,
    kv: KvV2,
    rel: string,
    rotator: Rotator,
    ref: SecretRef,
  ): Promise<{ current: SecretData; next: SecretData; custom: Record<string, string> } | 'gone'> {
    const meta = await kv.readMetadata(rel);
    if (!meta) return 'gone';
    const custom = meta.custom_metadata ?? {};
    const ours = custom[META.run] === this.options.runId && custom[META.state] === 'pending';
    if (!ours && custom[META.state] === 'pending' && item.phase === 'planned')
      throw new RotationError(
        ref.tenant,
        ref.kind,
        'stage',
        `a rotation by run ${custom[META.run]} is pending on ${ref.path}: resume that run first (sealwatch rotate resume ${custom[META.run]})`,
      );
    let previous = item.previous_version ?? (ours ? Number(custom[META.current]) : meta.current_version);
    let staged = item.staged_version ?? (ours ? Number(custom[META.pending]) : null);
    // Crashed between the KV write and the journal: the check-and-set write made exactly previous+1.
    if (staged === null && item.in_phase === 'staged' && meta.current_version === previous + 1)
      staged = previous + 1;
    if (item.phase === 'finalized' || item.phase === 'retired') {
      previous = item.previous_version ?? previous;
      staged = item.staged_version ?? staged;
    }
    const currentData = await kv.read<SecretData>(rel, previous);
    if (!currentData) {
      if (staged === null) return 'gone';
      // After retirement the old version is deleted: only the new one remains.
      const next = await kv.read<SecretData>(rel, staged);
      if (!next) return 'gone';
      registerRotated({}, next.data);
      return { current: {}, next: next.data, custom };
    }
    const next =
      staged !== null
        ? (await kv.read<SecretData>(rel, staged))?.data
        : await rotator.generate(ref, currentData.data);
    if (!next)
      throw new RotationError(
        ref.tenant,
        ref.kind,
        'stage',
        `staged version ${staged} of ${ref.path} is gone`,
      );
    if (staged !== null && item.staged_version === null) item.staged_version = staged;
    item.previous_version = previous;
    registerRotated(currentData.data, next);
    return { current: currentData.data, next, custom };
  }

  /**
   * `custom` is the secret's custom metadata as read when the secret was loaded: sealwatch is the
   * only writer of a secret while it rotates it, so it is not read again before each update.
   */
  private async stage(
    item: RotationItem,
    kv: KvV2,
    rel: string,
    input: RotationInput,
    custom: Record<string, string>,
  ): Promise<ItemUpdate> {
    const previous = item.previous_version!;
    let staged = item.staged_version;
    if (staged === null) {
      // Journal the version we replace before writing: a crash after the write is then recognisable.
      await this.deps.journal.updateItem(item.id, { previous_version: previous });
      const written = await kv.write(rel, input.next, { cas: previous });
      staged = written.version;
    }
    const pending = {
      ...custom,
      [META.state]: 'pending',
      [META.run]: this.options.runId,
      [META.current]: String(previous),
      [META.pending]: String(staged),
    };
    await kv.writeMetadata(rel, { custom_metadata: pending });
    Object.assign(custom, pending);
    return { previous_version: previous, staged_version: staged };
  }

  private async finalize(
    item: RotationItem,
    kv: KvV2,
    rel: string,
    rotator: Rotator,
    input: RotationInput,
    custom: Record<string, string>,
  ): Promise<ItemUpdate> {
    if (!rotator.removesSecret?.(input.next)) {
      await kv.writeMetadata(rel, {
        custom_metadata: withoutPending({
          ...custom,
          [META.state]: 'current',
          [META.run]: this.options.runId,
          [META.current]: String(item.staged_version),
          [META.previous]: String(item.previous_version),
          [META.rotatedAt]: new Date().toISOString(),
        }),
      });
    }
    await rotator.finalize(input);
    if (rotator.verifyOldRefused) await rotator.verifyOldRefused(input);
    return { retire_after: new Date(Date.now() + this.options.gracePeriodMs).toISOString() };
  }

  private async retire(
    item: RotationItem,
    kv: KvV2,
    rel: string,
    rotator: Rotator,
    input: RotationInput,
  ): Promise<void> {
    if (rotator.removesSecret?.(input.next)) {
      await kv.deleteAll(rel);
      return;
    }
    const previous = item.previous_version!;
    await kv.deleteVersions(rel, [previous]);
    if (this.options.destroyOld) await kv.destroy(rel, [previous]);
  }

  /** Runs one phase, retrying what can succeed on a second try (a target or Vault hiccup). */
  private async attempt<T>(
    phase: RotationPhase,
    item: RotationItem,
    run: () => Promise<T>,
    journal: (update: ItemUpdate) => Promise<void>,
  ): Promise<T> {
    for (let attempt = 1; ; attempt++) {
      try {
        return await run();
      } catch (error) {
        const retryable = error instanceof SealwatchError ? error.retryable : !(error instanceof VaultError);
        await journal({
          attempts: item.attempts + 1,
          error: redactedErrorLine(error, ERROR_LENGTH),
          error_phase: phase,
        });
        if (!retryable || isInterruption(error) || attempt >= this.options.attempts) throw error;
        const base = this.options.backoffMs ?? 250;
        await sleep(Math.min(base * 2 ** (attempt - 1), 10_000) * (0.5 + Math.random() / 2));
      }
    }
  }

  private async handleFailure(
    error: unknown,
    item: RotationItem,
    rotator: Rotator,
    ref: SecretRef,
    log: Logger,
    journal: (update: ItemUpdate) => Promise<void>,
    signal: AbortSignal,
  ): Promise<{ outcome: ItemOutcome; phase: string; reason: string; storeError?: string }> {
    const phase = item.in_phase ?? item.phase;
    const reason = redactedErrorLine(error, ERROR_LENGTH);
    /** Records the end of this secret; a store that refuses it is said, and the caller still counts it. */
    const record = async (update: ItemUpdate): Promise<string | undefined> => {
      try {
        await journal(update);
        return undefined;
      } catch (storeError) {
        const said = redactedErrorLine(storeError, ERROR_LENGTH);
        log.error({ phase, reason, store_error: said }, 'the rotation journal could not record this secret');
        return said;
      }
    };
    if (isInterruption(error) || signal.aborted) {
      // Nothing is undone: the journal says where this secret is, and resume continues from there.
      const storeError = await record({ error: reason, error_phase: phase });
      log.warn({ phase, reason }, 'rotation interrupted; resumable');
      return { outcome: 'interrupted', phase, reason, ...(storeError ? { storeError } : {}) };
    }
    log.warn({ phase, reason }, 'rotation failed');
    // Past finalize the new value is in use: rolling back would break the tenant, so it stays failed.
    const canRollBack =
      item.phase === 'planned' ||
      item.phase === 'staged' ||
      item.phase === 'applied' ||
      item.phase === 'verified';
    if (!canRollBack || item.staged_version === null) {
      const storeError = await record({ state: 'failed', error: reason, error_phase: phase, in_phase: null });
      return { outcome: 'failed', phase, reason, ...(storeError ? { storeError } : {}) };
    }
    try {
      await journal({ in_phase: 'rollback', error: reason, error_phase: phase });
      await this.rollBack(item, rotator, ref, log, signal);
    } catch (rollbackError) {
      const both = `${reason}; rollback failed too: ${redactedErrorLine(rollbackError, ERROR_LENGTH)}`;
      const storeError = await record({ state: 'failed', error: both, error_phase: phase, in_phase: null });
      return { outcome: 'failed', phase, reason: both, ...(storeError ? { storeError } : {}) };
    }
    const storeError = await record({ state: 'rolled_back', in_phase: null });
    return { outcome: 'rolled_back', phase, reason, ...(storeError ? { storeError } : {}) };
  }

  /**
   * Puts the value in use back: the target forgets the new value, Vault gets the old value as its
   * newest version again (readers of the latest version see a working value) and the staged
   * version, never used, is destroyed.
   */
  private async rollBack(
    item: RotationItem,
    rotator: Rotator,
    ref: SecretRef,
    log: Logger,
    signal: AbortSignal,
  ): Promise<void> {
    const { kv, relative } = await this.kvFor(item.path);
    const rel = relative(item.path);
    const previous = item.previous_version!;
    const staged = item.staged_version!;
    const current = (await kv.read<SecretData>(rel, previous))?.data;
    const next = (await kv.read<SecretData>(rel, staged))?.data;
    if (!current)
      throw new RotationError(ref.tenant, ref.kind, 'rollback', `version ${previous} of ${ref.path} is gone`);
    // The staged version is destroyed last: when it is gone, the target was rolled back already.
    if (next) await rotator.rollback({ ref, current, next, logger: log, signal });
    const meta = await kv.readMetadata(rel);
    let restored = meta?.current_version ?? staged;
    if (restored === staged) restored = (await kv.write(rel, current, { cas: staged })).version;
    await kv.destroy(rel, [staged]);
    await kv.writeMetadata(rel, {
      custom_metadata: withoutPending({
        ...(meta?.custom_metadata ?? {}),
        [META.state]: 'rolled_back',
        [META.run]: this.options.runId,
        [META.current]: String(restored),
      }),
    });
  }

  private kvFor(path: string): Promise<{ kv: KvV2; relative: (path: string) => string }> {
    const prefix = path.split('/').slice(0, -1).join('/');
    let found = this.kvs.get(prefix);
    if (!found) {
      found = this.deps.vault.mountOf(path).then(({ mount, kvVersion }) => {
        if (kvVersion !== 2)
          throw new SealwatchError('not_kv_v2', `${path} is not in a KV version 2 mount (${mount})`);
        return { kv: this.deps.vault.kv(mount), relative: (p: string) => p.slice(mount.length + 1) };
      });
      this.kvs.set(prefix, found);
      // A failed lookup is not cached (the next secret asks again); its awaiters get the error.
      found.catch(() => this.kvs.delete(prefix));
    }
    return found;
  }

  private limitFor(target: string): LimitFunction {
    let limit = this.targetLimits.get(target);
    if (!limit) {
      limit = pLimit(this.options.perTarget);
      this.targetLimits.set(target, limit);
    }
    return limit;
  }

  /** Spaces secret starts at 1/rate seconds. */
  private async throttle(): Promise<void> {
    if (this.options.rate <= 0) return;
    const interval = 1000 / this.options.rate;
    const now = Date.now();
    const at = Math.max(now, this.nextStartAt);
    this.nextStartAt = at + interval;
    if (at > now) await sleep(at - now);
  }
}

/** KV custom metadata refuses empty values: a key that no longer applies is dropped. */
function withoutPending(custom: Record<string, string>): Record<string, string> {
  return Object.fromEntries(Object.entries(custom).filter(([key]) => key !== META.pending));
}

/** Error text goes to the journal and the summary: one redacted line. */
const ERROR_LENGTH = 500;

/**
 * Both versions of a secret are secrets: every secret-named field, and every field the rotator
 * changed (a KV rotation's configured fields), except timestamps.
 */
function registerRotated(current: SecretData, next: SecretData): void {
  for (const key of new Set([...Object.keys(current), ...Object.keys(next)])) {
    const changed = current[key] !== next[key];
    if (!isSecretKey(key) && !changed) continue;
    for (const value of [current[key], next[key]])
      if (value !== undefined && !/^\d{4}-\d\d-\d\dT/.test(value)) registerSecret(value);
  }
}
