import { errorMessage } from '../errors.js';
import type { Logger } from '../logging/logger.js';
import type { OutboxEntry } from '../store/repositories/alerts.repository.js';
import type { Store } from '../store/store.js';
import { alertJsonSchema, type AlertJson } from './alert-json.js';
import type { AlertChannel, DeliveryResult } from './channels/channel.js';

export interface OutboxDeps {
  store: Pick<Store, 'alerts'>;
  channels: readonly AlertChannel[];
  logger: Logger;
  /** Attempts per notice and the first back-off (doubled per attempt), per channel. */
  retries: ReadonlyMap<string, { attempts: number; backoffMs: number }>;
  onFailure?: (channel: string, error: string) => void;
  onSuccess?: (channel: string) => void;
  /** High availability: throws when this process may no longer send (the lease is lost). */
  beforeSend?: () => Promise<void>;
  /**
   * Alertmanager-like timing of notice groups: a group's notices wait `waitMs` after the oldest of
   * them was queued; a group that already had a message waits `intervalMs` after it.
   */
  grouping?: { waitMs: number; intervalMs: number };
  /** At most this many messages per minute, per channel; notices beyond it stay queued. */
  rateLimits?: ReadonlyMap<string, number>;
}

export interface DeliveryCounts {
  /** Notices delivered (several may leave in one message). */
  sent: number;
  failed: number;
  /** Notices held back by a rate limit or their group's timing: still queued. */
  waiting: number;
}

const MINUTE_MS = 60_000;

/**
 * Delivers the notices that are due, channel by channel in parallel, one message at a time per
 * channel (in order). Notices of one group (same `group_key`: kind and group_by labels) that are due
 * together leave as one message. A failure schedules a retry with exponential back-off in the
 * store, so a restart picks it up; after the last attempt the notice is marked failed and stays
 * visible. A rate-limited channel leaves its notices queued until the limit allows: nothing is
 * dropped, and what waited leaves grouped.
 */
export async function deliverDue(deps: OutboxDeps, now = new Date()): Promise<DeliveryCounts> {
  const due = await deps.store.alerts.dueNotices(now.toISOString(), 500);
  const byChannel = new Map<string, OutboxEntry[]>();
  for (const entry of due) byChannel.set(entry.channel, [...(byChannel.get(entry.channel) ?? []), entry]);
  const counts: DeliveryCounts = { sent: 0, failed: 0, waiting: 0 };
  await Promise.all(
    [...byChannel].map(async ([name, entries]) => {
      const channel = deps.channels.find((c) => c.name === name);
      const policy = deps.retries.get(name) ?? { attempts: 5, backoffMs: 1_000 };
      const limit = deps.rateLimits?.get(name);
      const groups = new Map<string, OutboxEntry[]>();
      for (const entry of entries) {
        const key = entry.group_key ?? `#${entry.id}`;
        groups.set(key, [...(groups.get(key) ?? []), entry]);
      }
      let sentHere = 0;
      const recent = limit
        ? await deps.store.alerts.messagesSentSince(name, new Date(now.getTime() - MINUTE_MS).toISOString())
        : 0;
      for (const [key, group] of groups) {
        if (!(await groupReady(deps, name, key, group, now))) {
          counts.waiting += group.length;
          continue;
        }
        if (limit !== undefined && recent + sentHere >= limit) {
          counts.waiting += [...groups.values()].slice([...groups.keys()].indexOf(key)).flat().length;
          deps.logger.info({ channel: name, limit }, 'rate limit reached: notices wait in the outbox');
          return;
        }
        if (deps.beforeSend) {
          const allowed = await deps.beforeSend().then(
            () => true,
            // The lease is lost (or unverifiable): the holder delivers these; this process stops.
            (error: unknown) => (
              deps.logger.info({ err: error }, 'not delivering: not the lease holder'),
              false
            ),
          );
          if (!allowed) return;
        }
        const alerts: { entry: OutboxEntry; alert: AlertJson }[] = [];
        for (const entry of group) {
          const parsed = alertJsonSchema.safeParse(entry.payload);
          if (parsed.success) alerts.push({ entry, alert: parsed.data });
          else await fail(deps, name, entry, `notice ${entry.id} holds no valid alert`, undefined, counts);
        }
        if (alerts.length === 0) continue;
        const first = alerts[0]!.entry;
        const messageId =
          alerts.length === 1
            ? `sealwatch-${first.fingerprint}-${first.id}`
            : `sealwatch-${first.fingerprint}-${first.id}-g${alerts.length}`;
        const result: DeliveryResult = !channel
          ? { ok: false, error: `channel ${name} is no longer configured`, retryable: false }
          : await channel
              .send({
                kind: first.kind,
                alert: alerts[0]!.alert,
                alerts: alerts.map((a) => a.alert),
                id: messageId,
              })
              .catch((error: unknown) => ({
                ok: false as const,
                error: errorMessage(error),
                retryable: true,
              }));
        if (result.ok) {
          await deps.store.alerts.noticesSentAs(
            alerts.map((a) => a.entry.id),
            messageId,
          );
          deps.onSuccess?.(name);
          counts.sent += alerts.length;
          sentHere++;
          continue;
        }
        let retrying = false;
        for (const { entry } of alerts) {
          const attempts = entry.attempts + 1;
          const retry = result.retryable && attempts < policy.attempts;
          retrying ||= retry;
          const next = retry
            ? new Date(now.getTime() + policy.backoffMs * 2 ** (attempts - 1)).toISOString()
            : undefined;
          await fail(deps, name, entry, result.error, next, counts);
        }
        deps.onFailure?.(name, result.error);
        // Later notices of this channel wait: they would only fail the same way, out of order.
        if (retrying) break;
      }
    }),
  );
  return counts;
}

/** Group timing: the wait after the oldest notice, and the interval after the group's last message. */
async function groupReady(
  deps: OutboxDeps,
  channel: string,
  key: string,
  group: readonly OutboxEntry[],
  now: Date,
): Promise<boolean> {
  if (!deps.grouping || group[0]!.group_key === null) return true;
  const oldest = Math.min(...group.map((e) => Date.parse(e.created_at)));
  if (now.getTime() < oldest + deps.grouping.waitMs) return false;
  if (deps.grouping.intervalMs <= 0) return true;
  const last = await deps.store.alerts.lastGroupMessageAt(channel, key);
  return !last || now.getTime() >= Date.parse(last) + deps.grouping.intervalMs;
}

async function fail(
  deps: OutboxDeps,
  channel: string,
  entry: OutboxEntry,
  error: string,
  next: string | undefined,
  counts: DeliveryCounts,
): Promise<void> {
  const attempts = entry.attempts + 1;
  counts.failed++;
  await deps.store.alerts.noticeFailed(entry.id, attempts, error, next);
  deps.logger.warn(
    { channel, fingerprint: entry.fingerprint, attempts, retry: next !== undefined, error },
    'alert notice not delivered',
  );
}
