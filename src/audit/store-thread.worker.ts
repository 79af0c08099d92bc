/**
 * The store worker of `audit listen` and `watch` (see store-thread.ts): parses the socket's lines
 * and stores their events over its own connection to the store, in batches flushed when full and
 * at least every `flushMs`; tells the receiving thread what was stored, newly stored rows included.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { PathTemplateMatcher } from '../config/path-template.js';
import { errorMessage } from '../errors.js';
import { AuditEventRepository } from '../store/repositories/audit-events.repository.js';
import { openSqliteConnection, sqliteKysely } from '../store/sqlite-connection.js';
import type { AuditRowValues } from '../store/audit-row.js';
import { emptyParsedLines, parseLines } from './audit-sink.js';
import type { StoreThreadData, ToStoreThread, FromStoreThread } from './store-thread.js';

const port = parentPort!;
const settings = workerData as StoreThreadData;
const matcher = new PathTemplateMatcher(settings.templates);
let errorBudget = settings.maxErrors;
let batch: AuditRowValues[] = [];
/** Its own connection to the store that watch opened (and migrated) before starting it. */
let store: { auditEvents: AuditEventRepository; close: () => Promise<void> } | undefined;

const post = (message: FromStoreThread) => port.postMessage(message);

/** Stores the pending batch; a failure is told to the receiving thread, which logs it. */
async function flush(): Promise<void> {
  if (batch.length === 0 || !store) return;
  const rows = batch;
  batch = [];
  const stored: AuditRowValues[] = [];
  try {
    const result = await store.auditEvents.insertRows(rows, settings.wantRows ? { stored } : {});
    let newestTime: string | undefined;
    for (const [, time] of rows) if (!newestTime || time > newestTime) newestTime = time;
    post({
      kind: 'stored',
      inserted: result.inserted,
      duplicates: result.duplicates,
      newestTime,
      rows: stored,
    });
  } catch (error) {
    // As in-thread listening: the batch is reported as not stored and listening goes on.
    post({ kind: 'store-failed', message: errorMessage(error), rows: rows.length });
  }
}

// One message at a time, in order: a flush finishes before the next lines are parsed.
let queue: Promise<void> = Promise.resolve();
const enqueue = (work: () => Promise<void> | void) => {
  queue = queue.then(work);
};

port.on('message', (message: ToStoreThread) => {
  if (message.kind === 'lines')
    enqueue(async () => {
      const parsed = emptyParsedLines();
      parseLines(message.lines, { matcher, source: message.source }, parsed, errorBudget);
      errorBudget = Math.max(0, errorBudget - parsed.errors.length);
      for (const row of parsed.rows) batch.push(row);
      post({
        kind: 'parsed',
        lines: parsed.lines,
        malformed: parsed.malformed,
        errors: parsed.errors,
        source: message.source,
      });
      if (batch.length >= settings.batchSize) await flush();
    });
  else
    enqueue(async () => {
      await flush();
      if (message.kind === 'close') {
        clearInterval(timer);
        await store?.close();
        store = undefined;
      }
      post({ kind: 'flushed', id: message.id });
    });
});

enqueue(async () => {
  try {
    const handle = openSqliteConnection(settings.url);
    const db = sqliteKysely(handle);
    store = { auditEvents: new AuditEventRepository(db, handle), close: () => db.destroy() };
    post({ kind: 'ready' });
  } catch (error) {
    post({ kind: 'open-failed', message: errorMessage(error) });
  }
});
const timer = setInterval(() => enqueue(flush), settings.flushMs);
