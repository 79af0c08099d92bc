import { createRequire } from 'node:module';
import { Worker } from 'node:worker_threads';
import type { CompiledQuery } from 'kysely';

/**
 * Read queries on a SQLite store, run in a worker thread on a read-only connection of its own.
 * better-sqlite3 is synchronous: a grouped query over a million events holds the event loop for a
 * second or two, and every HTTP exchange in flight (posture's 10,000 token lookups) waits with it.
 * Off the thread, the two overlap. The worker starts on the first query, and holds the process open
 * only while a query is pending. Rows are what better-sqlite3 returns, as Kysely would return them.
 */
export class SqliteReader {
  private worker: Worker | undefined;
  private failed: Error | undefined;
  private readonly pending = new Map<
    number,
    { resolve: (rows: unknown[]) => void; reject: (e: Error) => void }
  >();
  private next = 0;

  constructor(private readonly file: string) {}

  all<R>(query: CompiledQuery<R>): Promise<R[]> {
    if (this.failed) return Promise.reject(this.failed);
    const worker = this.start();
    const id = this.next++;
    return new Promise<R[]>((resolve, reject) => {
      this.pending.set(id, { resolve: resolve as (rows: unknown[]) => void, reject });
      worker.ref();
      worker.postMessage({ id, sql: query.sql, parameters: query.parameters });
    });
  }

  async close(): Promise<void> {
    const worker = this.worker;
    this.worker = undefined;
    if (worker) await worker.terminate();
  }

  private start(): Worker {
    if (this.worker) return this.worker;
    const worker = new Worker(WORKER_SOURCE, {
      eval: true,
      workerData: { module: createRequire(import.meta.url).resolve('better-sqlite3'), file: this.file },
    });
    worker.on('message', (message: { id: number; rows?: unknown[]; error?: string; fatal?: string }) => {
      if (message.fatal !== undefined) {
        this.fail(new Error(`SQLite reader cannot open ${this.file}: ${message.fatal}`));
        void worker.terminate();
        return;
      }
      const waiting = this.pending.get(message.id);
      if (!waiting) return;
      this.pending.delete(message.id);
      if (this.pending.size === 0) worker.unref();
      if (message.error !== undefined) waiting.reject(new Error(message.error));
      else waiting.resolve(message.rows ?? []);
    });
    worker.on('error', (error) =>
      this.fail(new Error(`SQLite reader thread failed: ${error.message || String(error)}`)),
    );
    worker.on('exit', (code) => {
      if (this.worker === worker) this.fail(new Error(`SQLite reader thread exited (code ${code})`));
    });
    worker.unref();
    this.worker = worker;
    return worker;
  }

  /** The thread is gone: every pending query rejects with why, and so does every later one. */
  private fail(error: Error): void {
    this.failed = error;
    this.worker = undefined;
    for (const { reject } of this.pending.values()) reject(error);
    this.pending.clear();
  }
}

/** CommonJS, as an eval worker is. An error of a query is sent back as the query's rejection. */
const WORKER_SOURCE = `
const { parentPort, workerData } = require('node:worker_threads');
const Database = require(workerData.module);
let db;
try {
  db = new Database(workerData.file, { readonly: true, fileMustExist: true });
  db.pragma('busy_timeout = 5000');
} catch (error) {
  // Not swallowed: the owner fails every query with it.
  parentPort.postMessage({ fatal: String((error && error.message) || error) });
}
parentPort.on('message', ({ id, sql, parameters }) => {
  let rows;
  try {
    rows = db.prepare(sql).all(parameters);
  } catch (error) {
    // Not swallowed: sent to the caller, whose promise rejects with it.
    parentPort.postMessage({ id, error: String((error && error.message) || error) });
    return;
  }
  parentPort.postMessage({ id, rows });
});
`;
