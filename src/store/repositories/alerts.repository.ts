import { randomBytes } from 'node:crypto';
import { sql, type Kysely, type Selectable } from 'kysely';
import { SealwatchError } from '../../errors.js';
import { redactText } from '../../logging/redactor.js';
import type { AlertOutboxTable, AlertSilenceTable, AlertTable, Database } from '../schema.js';
import type { LeaseFence, WatchLeaseRepository } from './watch-lease.repository.js';

export const ALERT_STATES = ['pending', 'firing', 'resolved'] as const;
export type AlertState = (typeof ALERT_STATES)[number];
const NOTICE_KINDS = ['firing', 'resolved'] as const;
export type NoticeKind = (typeof NOTICE_KINDS)[number];
const OUTBOX_STATES = ['queued', 'sent', 'failed'] as const;

/** One alert as the store keeps it (the stable JSON shape is a projection of it, src/watch/alert-json.ts). */
export interface AlertRecord {
  fingerprint: string;
  rule: string;
  severity: string;
  state: AlertState;
  labels: Record<string, string>;
  summary: string;
  runbook: string | null;
  started_at: string;
  fired_at: string | null;
  resolved_at: string | null;
  last_seen_at: string;
  last_notified_at: string | null;
  /** What the last notice said; a restarted watch compares against it and does not repeat it. */
  notified_state: NoticeKind | null;
  acked_by: string | null;
  acked_at: string | null;
  silenced_by: string | null;
}

export interface Silence {
  id: string;
  /** Every label here must equal the alert's (`rule` matches the rule id). */
  matchers: Record<string, string>;
  author: string;
  comment: string;
  created_at: string;
  ends_at: string;
}

export type OutboxState = (typeof OUTBOX_STATES)[number];

export interface OutboxEntry {
  id: number;
  fingerprint: string;
  channel: string;
  kind: NoticeKind;
  /** The alert as it was when the notice was queued (stable alert JSON). */
  payload: Record<string, unknown>;
  state: OutboxState;
  attempts: number;
  next_attempt_at: string;
  last_error: string | null;
  created_at: string;
  sent_at: string | null;
  /** Notices of one group and channel that are due together leave as one message (null: alone). */
  group_key: string | null;
  /** The message the notice left in (null until sent). */
  message_id: string | null;
}

export type NewOutboxEntry = Pick<OutboxEntry, 'fingerprint' | 'channel' | 'kind' | 'payload'> &
  Partial<Pick<OutboxEntry, 'group_key'>>;

const ACTIVE: readonly AlertState[] = ['pending', 'firing'];

/** Alerts, silences and the outbox. A cycle's changes and the notices they queue commit together. */
export class AlertRepository {
  constructor(
    private readonly db: Kysely<Database>,
    private readonly leases: WatchLeaseRepository,
  ) {}

  /** Pending and firing alerts. */
  async active(): Promise<AlertRecord[]> {
    const rows = await this.db.selectFrom('alerts').selectAll().where('state', 'in', ACTIVE).execute();
    return rows.map(toAlert);
  }

  /** Alerts, newest first; resolved ones only when asked. */
  async list(options: { includeResolved?: boolean; limit?: number } = {}): Promise<AlertRecord[]> {
    let query = this.db.selectFrom('alerts').selectAll().orderBy('started_at', 'desc');
    if (!options.includeResolved) query = query.where('state', 'in', ACTIVE);
    const rows = await query.limit(options.limit ?? 500).execute();
    return rows.map(toAlert);
  }

  /** By fingerprint or an unambiguous prefix of one (at least 4 characters). */
  async find(id: string): Promise<AlertRecord | undefined> {
    if (id.length < 4) return undefined;
    const rows = await this.db
      .selectFrom('alerts')
      .selectAll()
      .where('fingerprint', 'like', `${id.replace(/[%_]/g, '')}%`)
      .limit(2)
      .execute();
    return rows.length === 1 ? toAlert(rows[0]!) : undefined;
  }

  /**
   * Writes the alerts changed in one cycle and queues their notices, in one transaction. With a
   * fence (high availability) nothing is written unless the lease is still held (LeaseLostError).
   */
  async commitCycle(
    alerts: readonly AlertRecord[],
    notices: readonly NewOutboxEntry[],
    fence?: LeaseFence,
  ): Promise<void> {
    if (alerts.length === 0 && notices.length === 0) return;
    const at = new Date().toISOString();
    await this.db.transaction().execute(async (tx) => {
      if (fence) await this.leases.guard(tx, fence);
      for (const alert of alerts) {
        const row = { ...alert, labels: JSON.stringify(alert.labels), summary: redactText(alert.summary) };
        await tx
          .insertInto('alerts')
          .values(row)
          .onConflict((oc) => oc.column('fingerprint').doUpdateSet(row))
          .execute();
      }
      for (const notice of notices)
        await tx
          .insertInto('alert_outbox')
          .values({
            fingerprint: notice.fingerprint,
            channel: notice.channel,
            kind: notice.kind,
            payload: redactText(JSON.stringify(notice.payload)),
            state: 'queued',
            attempts: 0,
            next_attempt_at: at,
            created_at: at,
            group_key: notice.group_key ?? null,
          })
          .execute();
    });
  }

  /** Acknowledged: no repeat notices while it fires (the resolve notice still goes out). */
  async ack(fingerprint: string, by: string): Promise<void> {
    await this.db
      .updateTable('alerts')
      .set({ acked_by: by, acked_at: new Date().toISOString() })
      .where('fingerprint', '=', fingerprint)
      .execute();
  }

  // ---- silences ----------------------------------------------------------------------------------

  async addSilence(silence: Omit<Silence, 'id' | 'created_at'>): Promise<Silence> {
    const row: Silence = {
      id: randomBytes(6).toString('hex'),
      created_at: new Date().toISOString(),
      ...silence,
    };
    await this.db
      .insertInto('alert_silences')
      .values({ ...row, matchers: JSON.stringify(row.matchers), comment: redactText(row.comment) })
      .execute();
    return row;
  }

  /** Ends a silence now; false when there is no such silence. */
  async endSilence(id: string): Promise<boolean> {
    const result = await this.db
      .updateTable('alert_silences')
      .set({ ends_at: new Date().toISOString() })
      .where('id', '=', id)
      .executeTakeFirst();
    return Number(result.numUpdatedRows) > 0;
  }

  /** Silences in force at `at` (ISO time). */
  async activeSilences(at: string): Promise<Silence[]> {
    const rows = await this.db
      .selectFrom('alert_silences')
      .selectAll()
      .where('ends_at', '>', at)
      .orderBy('created_at')
      .execute();
    return rows.map(toSilence);
  }

  // ---- outbox ------------------------------------------------------------------------------------

  /** Queued notices whose next attempt is due, oldest first. */
  async dueNotices(at: string, limit = 100): Promise<OutboxEntry[]> {
    const rows = await this.db
      .selectFrom('alert_outbox')
      .selectAll()
      .where('state', '=', 'queued')
      .where('next_attempt_at', '<=', at)
      .orderBy('id')
      .limit(limit)
      .execute();
    return rows.map(toOutbox);
  }

  async noticesOf(fingerprint: string): Promise<OutboxEntry[]> {
    const rows = await this.db
      .selectFrom('alert_outbox')
      .selectAll()
      .where('fingerprint', '=', fingerprint)
      .orderBy('id')
      .execute();
    return rows.map(toOutbox);
  }

  async noticeSent(id: number, attempts: number): Promise<void> {
    await this.db
      .updateTable('alert_outbox')
      .set({ state: 'sent', attempts, sent_at: new Date().toISOString(), last_error: null })
      .where('id', '=', id)
      .execute();
  }

  /** Notices that left together in one message (each with its own attempt count). */
  async noticesSentAs(ids: readonly number[], messageId: string): Promise<void> {
    if (ids.length === 0) return;
    await this.db
      .updateTable('alert_outbox')
      .set({
        state: 'sent',
        attempts: sql<number>`attempts + 1`,
        sent_at: new Date().toISOString(),
        last_error: null,
        message_id: messageId,
      })
      .where('id', 'in', ids)
      .execute();
  }

  /** Messages a channel sent since `since` (ISO): what its rate limit counts. */
  async messagesSentSince(channel: string, since: string): Promise<number> {
    const row = await this.db
      .selectFrom('alert_outbox')
      .select(sql<string>`count(distinct coalesce(message_id, cast(id as text)))`.as('n'))
      .where('channel', '=', channel)
      .where('state', '=', 'sent')
      .where('sent_at', '>', since)
      .executeTakeFirst();
    return Number(row?.n ?? 0);
  }

  /** When the channel last sent a message of the group (ISO), if ever. */
  async lastGroupMessageAt(channel: string, groupKey: string): Promise<string | undefined> {
    const row = await this.db
      .selectFrom('alert_outbox')
      .select((eb) => eb.fn.max('sent_at').as('at'))
      .where('channel', '=', channel)
      .where('group_key', '=', groupKey)
      .where('state', '=', 'sent')
      .executeTakeFirst();
    return row?.at ?? undefined;
  }

  /** A failed attempt: retried at `next` (ISO), or given up (`next` undefined). */
  async noticeFailed(id: number, attempts: number, error: string, next: string | undefined): Promise<void> {
    await this.db
      .updateTable('alert_outbox')
      .set({
        state: next ? 'queued' : 'failed',
        attempts,
        last_error: redactText(error),
        ...(next ? { next_attempt_at: next } : {}),
      })
      .where('id', '=', id)
      .execute();
  }
}

function toAlert(row: Selectable<AlertTable>): AlertRecord {
  return {
    ...row,
    state: member(ALERT_STATES, row.state, 'alert state'),
    notified_state: row.notified_state === null ? null : member(NOTICE_KINDS, row.notified_state, 'notice'),
    labels: JSON.parse(row.labels) as Record<string, string>,
  };
}

function toSilence(row: Selectable<AlertSilenceTable>): Silence {
  return { ...row, matchers: JSON.parse(row.matchers) as Record<string, string> };
}

function toOutbox(row: Selectable<AlertOutboxTable>): OutboxEntry {
  return {
    ...row,
    id: Number(row.id),
    attempts: Number(row.attempts),
    kind: member(NOTICE_KINDS, row.kind, 'notice kind'),
    state: member(OUTBOX_STATES, row.state, 'outbox state'),
    payload: JSON.parse(row.payload) as Record<string, unknown>,
  };
}

/** A stored enum value, checked: a row written by a newer sealwatch fails loudly, not silently. */
function member<T extends string>(values: readonly T[], value: string, what: string): T {
  const found = values.find((v) => v === value);
  if (found === undefined)
    throw new SealwatchError(
      'store_invalid',
      `the store holds an unknown ${what} "${value}": upgrade sealwatch`,
    );
  return found;
}
