import type { Kysely, Selectable } from 'kysely';
import type { Database, NotificationTable } from '../schema.js';
import { redactText } from '../../logging/redactor.js';

export type NotificationChannel = 'email' | 'webhook';
/**
 * `sending` is written before a message goes out and left there only by a crash mid-send; a
 * resumed incident sends such a notice again with the same Message-ID / Idempotency-Key, so the
 * receiver can drop the copy (at least once, deduplicated downstream). `sent` is final.
 */
export type NotificationState = 'pending' | 'sending' | 'sent' | 'failed';

export interface Notification {
  id: number;
  incident_id: string;
  tenant: string;
  channel: NotificationChannel;
  recipient: string | null;
  message_id: string;
  state: NotificationState;
  attempts: number;
  last_error: string | null;
  created_at: string;
  updated_at: string;
  sent_at: string | null;
}

const now = () => new Date().toISOString();

/** Delivery records of tenant notices. Every write is one statement, committed before the send. */
export class NotificationRepository {
  constructor(private readonly db: Kysely<Database>) {}

  /** The row for (incident, tenant, channel), created `pending` the first time. */
  async open(row: {
    incident_id: string;
    tenant: string;
    channel: NotificationChannel;
    recipient: string | null;
    message_id: string;
  }): Promise<Notification> {
    const at = now();
    await this.db
      .insertInto('notifications')
      .values({ ...row, state: 'pending', attempts: 0, created_at: at, updated_at: at })
      .onConflict((oc) => oc.columns(['incident_id', 'tenant', 'channel']).doNothing())
      .execute();
    const found = await this.db
      .selectFrom('notifications')
      .selectAll()
      .where('incident_id', '=', row.incident_id)
      .where('tenant', '=', row.tenant)
      .where('channel', '=', row.channel)
      .executeTakeFirstOrThrow();
    return toNotification(found);
  }

  async beginAttempt(id: number, attempts: number, recipient: string | null): Promise<void> {
    await this.db
      .updateTable('notifications')
      .set({ state: 'sending', attempts, recipient, updated_at: now() })
      .where('id', '=', id)
      .where('state', '!=', 'sent')
      .execute();
  }

  async markSent(id: number): Promise<void> {
    const at = now();
    await this.db
      .updateTable('notifications')
      .set({ state: 'sent', last_error: null, sent_at: at, updated_at: at })
      .where('id', '=', id)
      .execute();
  }

  /** `pending` while retries remain, `failed` when they are used up or the error is permanent. */
  async markError(id: number, state: 'pending' | 'failed', error: string): Promise<void> {
    await this.db
      .updateTable('notifications')
      .set({ state, last_error: redactText(error).slice(0, 2000), updated_at: now() })
      .where('id', '=', id)
      .where('state', '!=', 'sent')
      .execute();
  }

  async listForIncident(incidentId: string): Promise<Notification[]> {
    const rows = await this.db
      .selectFrom('notifications')
      .selectAll()
      .where('incident_id', '=', incidentId)
      .orderBy('tenant')
      .orderBy('channel')
      .execute();
    return rows.map(toNotification);
  }
}

function toNotification(row: Selectable<NotificationTable>): Notification {
  return {
    ...row,
    id: Number(row.id),
    attempts: Number(row.attempts),
    channel: row.channel === 'webhook' ? 'webhook' : 'email',
    state: STATES.find((s) => s === row.state) ?? 'pending',
  };
}

const STATES: readonly NotificationState[] = ['pending', 'sending', 'sent', 'failed'];
