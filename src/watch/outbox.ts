import { errorMessage } from '../errors.js';
import type { Logger } from '../logging/logger.js';
import type { Store } from '../store/store.js';
import { alertJsonSchema } from './alert-json.js';
import type { AlertChannel } from './channels/channel.js';

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
}

/**
 * Delivers the notices that are due, channel by channel in parallel, one at a time per channel
 * (in order). A failure schedules a retry with exponential back-off in the store, so a restart
 * picks it up; after the last attempt the notice is marked failed and stays visible.
 */
export async function deliverDue(
  deps: OutboxDeps,
  now = new Date(),
): Promise<{ sent: number; failed: number }> {
  const due = await deps.store.alerts.dueNotices(now.toISOString());
  const byChannel = new Map<string, typeof due>();
  for (const entry of due) byChannel.set(entry.channel, [...(byChannel.get(entry.channel) ?? []), entry]);
  let sent = 0;
  let failed = 0;
  await Promise.all(
    [...byChannel].map(async ([name, entries]) => {
      const channel = deps.channels.find((c) => c.name === name);
      const policy = deps.retries.get(name) ?? { attempts: 5, backoffMs: 1_000 };
      for (const entry of entries) {
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
        const attempts = entry.attempts + 1;
        const parsed = alertJsonSchema.safeParse(entry.payload);
        const result = !channel
          ? { ok: false as const, error: `channel ${name} is no longer configured`, retryable: false }
          : !parsed.success
            ? { ok: false as const, error: `notice ${entry.id} holds no valid alert`, retryable: false }
            : await channel
                .send({
                  kind: entry.kind,
                  alert: parsed.data,
                  id: `sealwatch-${entry.fingerprint}-${entry.id}`,
                })
                .catch((error: unknown) => ({
                  ok: false as const,
                  error: errorMessage(error),
                  retryable: true,
                }));
        if (result.ok) {
          await deps.store.alerts.noticeSent(entry.id, attempts);
          deps.onSuccess?.(name);
          sent++;
          continue;
        }
        failed++;
        const retry = result.retryable && attempts < policy.attempts;
        const next = retry
          ? new Date(now.getTime() + policy.backoffMs * 2 ** (attempts - 1)).toISOString()
          : undefined;
        await deps.store.alerts.noticeFailed(entry.id, attempts, result.error, next);
        deps.logger.warn(
          { channel: name, fingerprint: entry.fingerprint, attempts, retry, error: result.error },
          'alert notice not delivered',
        );
        deps.onFailure?.(name, result.error);
        // Later notices of this channel wait: they would only fail the same way, out of order.
        if (retry) break;
      }
    }),
  );
  return { sent, failed };
}
