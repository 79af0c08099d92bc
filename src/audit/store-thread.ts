import type { PathTemplate } from '../config/path-template.js';
import type { AuditRowValues } from '../store/audit-row.js';
import type { AuditSinkOptions, IngestCounts } from './audit-sink.js';
import { emptyCounts } from './audit-sink.js';
import type { RawLine } from './line-reader.js';
import { startAuditWorker } from './parse-thread.js';

/** What the store worker is started with. */
export interface StoreThreadData {
  /** The store (a SQLite file): the worker opens its own connection to it. */
  url: string;
  templates: readonly PathTemplate[];
  batchSize: number;
  flushMs: number;
  maxErrors: number;
  /** Whether newly stored rows are sent back (live detection reads them). */
  wantRows: boolean;
}

export type ToStoreThread =
  { kind: 'lines'; source: string; lines: readonly RawLine[] } | { kind: 'flush' | 'close'; id: number };

export type FromStoreThread =
  | { kind: 'ready' }
  | { kind: 'open-failed'; message: string }
  | {
      kind: 'parsed';
      source: string;
      lines: number;
      malformed: number;
      errors: { line: number; reason: string }[];
    }
  | {
      kind: 'stored';
      inserted: number;
      duplicates: number;
      newestTime: string | undefined;
      rows: AuditRowValues[];
    }
  | { kind: 'store-failed'; message: string; rows: number }
  | { kind: 'flushed'; id: number };

/** Line messages posted and not yet parsed before the receiving side waits (back-pressure). */
const MAX_IN_FLIGHT = 8;
/** Heap of the worker: a batch of rows and a maximum-length line, not a runaway. */
const WORKER_HEAP_MB = 160;
/**
 * Its young generation: the rows of a batch die young, and V8's default lets the two threads'
 * nurseries together push watch past its memory budget.
 */
const WORKER_YOUNG_MB = 8;

export interface StoreThreadOptions extends Pick<AuditSinkOptions, 'onStored' | 'onStoredRows'> {
  /** A batch that could not be stored (logged by the caller); listening goes on. */
  onStoreFailed: (message: string) => void;
  onMalformed?: (source: string, line: number, reason: string) => void;
}

/**
 * Parsing and storing a socket's audit lines cost far more CPU than receiving them, so `watch`
 * does both in a worker thread with its own connection to the (SQLite) store: the thread that
 * reads the socket, runs live detection and delivers notices never waits for an insert. Lines go
 * to the worker a bounded number of messages ahead; past that, `add` waits, the socket is no
 * longer read and TCP slows the audit device down: nothing is dropped and memory stays bounded.
 * The worker stores each event once (event key), as the in-thread sink does, and sends back the
 * newly stored rows in storage order.
 */
export class StoreThread {
  readonly counts: IngestCounts = emptyCounts();
  private readonly worker;
  private inFlight = 0;
  private waiting: (() => void)[] = [];
  private readonly flushes = new Map<number, () => void>();
  private nextId = 0;
  private failed: Error | undefined;
  private readonly ready: Promise<void>;

  constructor(
    data: StoreThreadData,
    private readonly options: StoreThreadOptions,
    private readonly maxErrors: number,
  ) {
    this.worker = startAuditWorker('store-thread.worker', data, WORKER_HEAP_MB, WORKER_YOUNG_MB);
    let opened: () => void = () => undefined;
    let notOpened: (error: Error) => void = () => undefined;
    this.ready = new Promise<void>((resolve, reject) => {
      opened = resolve;
      notOpened = reject;
    });
    // Handled by whoever awaits it (start); unobserved otherwise when the worker fails first.
    this.ready.catch(() => undefined);
    this.worker.on('message', (message: FromStoreThread) => {
      switch (message.kind) {
        case 'ready':
          return opened();
        case 'open-failed':
          return notOpened(new Error(message.message));
        case 'parsed':
          this.counts.lines += message.lines;
          this.counts.malformed += message.malformed;
          for (const { line, reason } of message.errors) {
            if (this.counts.errors.length < this.maxErrors)
              this.counts.errors.push({ file: message.source, line, reason });
            this.options.onMalformed?.(message.source, line, reason);
          }
          this.inFlight--;
          return this.waiting.shift()?.();
        case 'stored':
          this.counts.events += message.inserted;
          this.counts.duplicates += message.duplicates;
          this.options.onStored?.({ inserted: message.inserted, newestTime: message.newestTime });
          if (message.rows.length > 0) this.options.onStoredRows?.(message.rows);
          return;
        case 'store-failed':
          return this.options.onStoreFailed(message.message);
        case 'flushed':
          this.flushes.get(message.id)?.();
          this.flushes.delete(message.id);
          return;
      }
    });
    const fail = (error: Error) => {
      this.failed ??= error;
      notOpened(error);
      for (const wake of this.waiting.splice(0)) wake();
      for (const done of this.flushes.values()) done();
      this.flushes.clear();
    };
    this.worker.on('error', fail);
    this.worker.on('exit', (code) => fail(new Error(`the audit store worker exited (code ${code})`)));
  }

  /** Resolves once the worker has opened the store; throws why it could not. */
  async start(): Promise<void> {
    await this.ready;
  }

  /** Hands lines to the worker; waits while it is MAX_IN_FLIGHT messages behind. */
  async add(lines: readonly RawLine[], source: string): Promise<void> {
    while (this.inFlight >= MAX_IN_FLIGHT && !this.failed)
      await new Promise<void>((r) => this.waiting.push(r));
    if (this.failed) throw this.failed;
    this.inFlight++;
    this.worker.postMessage({ kind: 'lines', source, lines } satisfies ToStoreThread);
  }

  /** Stores what the worker holds; resolves when it is stored (and its rows were handed on). */
  async flush(kind: 'flush' | 'close' = 'flush'): Promise<void> {
    if (this.failed) throw this.failed;
    const id = this.nextId++;
    const done = new Promise<void>((resolve) => this.flushes.set(id, resolve));
    this.worker.postMessage({ kind, id } satisfies ToStoreThread);
    await done;
    this.throwIfFailed();
  }

  private throwIfFailed(): void {
    if (this.failed) throw this.failed;
  }

  /** Stores what is left, closes the worker's store connection and ends the worker. */
  async close(): Promise<void> {
    try {
      if (!this.failed) await this.flush('close');
    } finally {
      this.worker.removeAllListeners('exit');
      await this.worker.terminate();
    }
  }
}
