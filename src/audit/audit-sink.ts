import type { Logger } from '../logging/logger.js';
import type { AuditCheckpoint, InsertBatchResult } from '../store/repositories/audit-events.repository.js';
import type { Store } from '../store/store.js';
import type { PathTemplateMatcher } from '../tenants/path-template.js';
import type { AuditEvent } from './audit-event.js';
import type { RawLine } from './line-reader.js';
import { parseAuditLine } from './parse-line.js';

export interface IngestLineError {
  file: string;
  line: number;
  reason: string;
}

/** The counts `audit ingest --json` prints, in this order. */
export interface IngestCounts {
  /** Lines read, blank ones included. */
  lines: number;
  /** Events newly stored. */
  events: number;
  /** Events the store already held (a re-run, an overlapping file, the socket twin of a file line). */
  duplicates: number;
  /** Lines that are not audit entries; each is in `errors` up to the cap. */
  malformed: number;
  errors: IngestLineError[];
}

export interface AuditPipelineDeps {
  store: Pick<Store, 'auditEvents'>;
  /** Built once from config `tenancy.paths`. */
  matcher: PathTemplateMatcher;
  logger: Logger;
}

export interface AuditSinkOptions {
  /** Events per transaction: big enough to amortise the commit, small enough to bound memory. */
  batchSize?: number;
  /** Malformed lines listed in `errors`; all of them are counted. */
  maxErrors?: number;
}

export const DEFAULT_BATCH_SIZE = 5_000;
export const DEFAULT_MAX_ERRORS = 100;

export function emptyCounts(): IngestCounts {
  return { lines: 0, events: 0, duplicates: 0, malformed: 0, errors: [] };
}

/**
 * Parses lines and stores their events in bounded batches: the one path that file ingestion,
 * `audit follow` and `audit listen` share, so all three count, deduplicate and report alike.
 */
export class AuditSink {
  readonly counts: IngestCounts = emptyCounts();
  private batch: AuditEvent[] = [];
  private readonly batchSize: number;
  private readonly maxErrors: number;

  constructor(
    private readonly deps: AuditPipelineDeps,
    options: AuditSinkOptions = {},
  ) {
    this.batchSize = options.batchSize ?? DEFAULT_BATCH_SIZE;
    this.maxErrors = options.maxErrors ?? DEFAULT_MAX_ERRORS;
  }

  get pending(): number {
    return this.batch.length;
  }

  /** Parses lines of one source; returns true when the batch is full and should be flushed. */
  add(lines: readonly RawLine[], source: string): boolean {
    const context = { matcher: this.deps.matcher, source };
    for (const line of lines) {
      this.counts.lines++;
      if (line.tooLong) {
        this.malformed(source, line.number, 'line too long');
        continue;
      }
      if (line.text.trim() === '') continue;
      const result = parseAuditLine(line.text, context);
      if (result.ok) this.batch.push(result.event);
      else this.malformed(source, line.number, result.reason);
    }
    return this.batch.length >= this.batchSize;
  }

  /** Stores the pending batch (and the checkpoint, in the same transaction). */
  async flush(checkpoint?: AuditCheckpoint): Promise<InsertBatchResult> {
    if (this.batch.length === 0 && !checkpoint) return { inserted: 0, duplicates: 0 };
    const events = this.batch;
    this.batch = [];
    const result = await this.deps.store.auditEvents.insertBatch(events, checkpoint ? { checkpoint } : {});
    this.counts.events += result.inserted;
    this.counts.duplicates += result.duplicates;
    return result;
  }

  private malformed(file: string, line: number, reason: string): void {
    this.counts.malformed++;
    if (this.counts.errors.length < this.maxErrors) this.counts.errors.push({ file, line, reason });
    this.deps.logger.debug({ file, line, reason }, 'malformed audit line');
  }
}
