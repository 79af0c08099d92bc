import { extname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import type { PathTemplate } from '../config/path-template.js';
import type { ParsedLines } from './audit-sink.js';

/** What the parse worker is started with. */
export interface ParseThreadData {
  templates: readonly PathTemplate[];
  maxLineBytes: number | undefined;
  /** Malformed lines described in all (all of them are counted). */
  maxErrors: number;
  rowsPerMessage: number;
  /** Messages posted and not yet taken before the worker waits. */
  maxInFlight: number;
}

export type ToParser = { kind: 'file'; file: string; source: string } | { kind: 'ack' };
export type ToStorer =
  | { kind: 'lines'; parsed: ParsedLines }
  | { kind: 'end' }
  | { kind: 'failed'; code?: string; message: string };

/** A file the worker could not read (missing, unreadable, a broken .gz); its code as fs gives it. */
export class ParseThreadReadError extends Error {
  constructor(
    message: string,
    readonly code: string | undefined,
  ) {
    super(message);
  }
}

/**
 * Parsing audit lines costs as much CPU as storing them, so `audit ingest` parses in a worker
 * thread and stores in the calling one: on two cores, each does half the work at the same time.
 * The worker stays a few messages ahead, so memory is bounded whatever the file size; its heap is
 * capped as well.
 */
export class ParseThread {
  private readonly worker: Worker;
  private queue: ToStorer[] = [];
  private wake: (() => void) | undefined;
  private crashed: Error | undefined;

  constructor(data: ParseThreadData) {
    this.worker = startWorker(data);
    this.worker.on('message', (message: ToStorer) => {
      this.queue.push(message);
      this.wakeUp();
    });
    this.worker.on('error', (error) => {
      this.crashed = error;
      this.wakeUp();
    });
    this.worker.on('exit', (code) => {
      this.crashed ??= new Error(`the audit parse worker exited (code ${code})`);
      this.wakeUp();
    });
  }

  /**
   * The parsed lines of one file, as the worker posts them. Each message is acknowledged as it is
   * taken, so the worker parses the next ones while the caller stores these. Throws a
   * ParseThreadReadError after the lines read before a read failure.
   */
  async *parse(file: string, source: string): AsyncGenerator<ParsedLines> {
    this.worker.postMessage({ kind: 'file', file, source } satisfies ToParser);
    for (;;) {
      const message = await this.next();
      if (message.kind === 'end') return;
      if (message.kind === 'failed') throw new ParseThreadReadError(message.message, message.code);
      this.worker.postMessage({ kind: 'ack' } satisfies ToParser);
      yield message.parsed;
    }
  }

  async close(): Promise<void> {
    this.worker.removeAllListeners('exit');
    await this.worker.terminate();
  }

  private async next(): Promise<ToStorer> {
    for (;;) {
      const message = this.queue.shift();
      if (message) return message;
      if (this.crashed) throw this.crashed;
      await new Promise<void>((resolve) => (this.wake = resolve));
    }
  }

  private wakeUp(): void {
    this.wake?.();
    this.wake = undefined;
  }
}

/** Heap of the worker: room for a maximum-length line and its parse, not for a runaway. */
const WORKER_HEAP_MB = 192;

function startWorker(data: ParseThreadData): Worker {
  return startAuditWorker('parse-thread.worker', data, WORKER_HEAP_MB);
}

/** Starts a worker module of this directory, from the build or (tests, benchmarks) the sources. */
export function startAuditWorker(name: string, data: unknown, heapMb: number, youngMb?: number): Worker {
  const here = fileURLToPath(import.meta.url);
  const entry = new URL(`./${name}${extname(here)}`, import.meta.url);
  const resourceLimits = {
    maxOldGenerationSizeMb: heapMb,
    ...(youngMb === undefined ? {} : { maxYoungGenerationSizeMb: youngMb }),
  };
  const options = { workerData: data, resourceLimits };
  if (extname(here) === '.js') return new Worker(entry, options);
  // Running from the TypeScript sources (tests, the benchmark through tsx): load them through tsx.
  return new Worker(
    `import('tsx/esm/api').then((tsx) => { tsx.register(); return import(${JSON.stringify(entry.href)}); })`,
    { ...options, eval: true },
  );
}
