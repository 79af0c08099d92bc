import type { Logger } from '../logging/logger.js';
import type { AuditCheckpoint, InsertBatchResult } from '../store/repositories/audit-events.repository.js';
import type { Store } from '../store/store.js';
import type { PathTemplateMatcher } from '../config/path-template.js';
import { toAuditRow, type AuditRowValues } from '../store/audit-row.js';
import type { RawLine } from './line-reader.js';
import { parseAuditLine, type ParseContext } from './parse-line.js';

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
  /**
   * With a SQLite store's location and dialect (a Store has both), `audit listen` and `watch` parse
   * and store socket lines in a worker thread over a connection of its own (store-thread.ts).
   */
  store: Pick<Store, 'auditEvents'> & Partial<Pick<Store, 'dialect' | 'location'>>;
  /** Built once from config `tenancy.paths`. */
  matcher: PathTemplateMatcher;
  logger: Logger;
}

export interface AuditSinkOptions {
  /** Events per transaction: big enough to amortise the commit, small enough to bound memory. */
  batchSize?: number;
  /** Malformed lines listed in `errors`; all of them are counted. */
  maxErrors?: number;
  /**
   * Told after each stored batch: how many events were new and the newest event time in it
   * (`watch` counts ingested events and the ingest lag from it).
   */
  onStored?: (stored: { inserted: number; newestTime: string | undefined }) => void;
  /**
   * Told after each stored batch the rows newly stored, in order (not the duplicates): `watch`
   * runs its live detection on them, so an event that arrives twice (socket and file) is judged once.
   */
  onStoredRows?: (rows: readonly AuditRowValues[]) => void;
}

export const DEFAULT_BATCH_SIZE = 5_000;
export const DEFAULT_MAX_ERRORS = 100;

export function emptyCounts(): IngestCounts {
  return { lines: 0, events: 0, duplicates: 0, malformed: 0, errors: [] };
}

/** Lines parsed into rows, with what was wrong with the others: a parser's output, in or off thread. */
export interface ParsedLines {
  rows: AuditRowValues[];
  /** Lines read, blank ones included. */
  lines: number;
  malformed: number;
  /** The malformed lines' numbers and reasons, as many as the parser was asked to keep. */
  errors: { line: number; reason: string }[];
}

export function emptyParsedLines(): ParsedLines {
  return { rows: [], lines: 0, malformed: 0, errors: [] };
}

/**
 * Parses lines into `into`: the one loop that the in-thread sink and the parse worker share, so
 * both count and report alike. `keepErrors` says how many more malformed lines to describe.
 */
export function parseLines(
  lines: readonly RawLine[],
  context: ParseContext,
  into: ParsedLines,
  keepErrors: number,
): void {
  for (const line of lines) {
    into.lines++;
    let reason: string;
    if (line.tooLong) reason = 'line too long';
    else {
      if (line.text.trim() === '') continue;
      const result = parseAuditLine(line.text, context);
      if (result.ok) {
        into.rows.push(toAuditRow(result.event));
        continue;
      }
      reason = result.reason;
    }
    into.malformed++;
    if (into.errors.length < keepErrors) into.errors.push({ line: line.number, reason });
  }
}

/**
 * Parses lines and stores their events in bounded batches: the one path that file ingestion,
 * `audit follow` and `audit listen` share, so all three count, deduplicate and report alike.
 */
export class AuditSink {
  readonly counts: IngestCounts = emptyCounts();
  private batch: AuditRowValues[] = [];
  private readonly batchSize: number;
  private readonly maxErrors: number;
  private readonly onStored: AuditSinkOptions['onStored'];
  private readonly onStoredRows: AuditSinkOptions['onStoredRows'];

  constructor(
    private readonly deps: AuditPipelineDeps,
    options: AuditSinkOptions = {},
  ) {
    this.batchSize = options.batchSize ?? DEFAULT_BATCH_SIZE;
    this.maxErrors = options.maxErrors ?? DEFAULT_MAX_ERRORS;
    this.onStored = options.onStored;
    this.onStoredRows = options.onStoredRows;
  }

  get pending(): number {
    return this.batch.length;
  }

  /** Malformed lines still to be described in `errors` (all of them are counted). */
  get errorBudget(): number {
    return Math.max(0, this.maxErrors - this.counts.errors.length);
  }

  /** Parses lines of one source; returns true when the batch is full and should be flushed. */
  add(lines: readonly RawLine[], source: string): boolean {
    const parsed = emptyParsedLines();
    parseLines(lines, { matcher: this.deps.matcher, source }, parsed, this.errorBudget);
    return this.addParsed(parsed, source);
  }

  /** Takes lines of one source parsed elsewhere (a worker thread); true when the batch is full. */
  addParsed(parsed: ParsedLines, source: string): boolean {
    for (const row of parsed.rows) this.batch.push(row);
    this.counts.lines += parsed.lines;
    this.counts.malformed += parsed.malformed;
    for (const { line, reason } of parsed.errors) {
      if (this.counts.errors.length < this.maxErrors) this.counts.errors.push({ file: source, line, reason });
      this.deps.logger.debug({ file: source, line, reason }, 'malformed audit line');
    }
    return this.batch.length >= this.batchSize;
  }

  /** Stores the pending batch (and the checkpoint, in the same transaction). */
  async flush(checkpoint?: AuditCheckpoint): Promise<InsertBatchResult> {
    if (this.batch.length === 0 && !checkpoint) return { inserted: 0, duplicates: 0 };
    const rows = this.batch;
    this.batch = [];
    const stored: AuditRowValues[] | undefined = this.onStoredRows ? [] : undefined;
    const result = await this.deps.store.auditEvents.insertRows(rows, {
      ...(checkpoint ? { checkpoint } : {}),
      ...(stored ? { stored } : {}),
    });
    this.counts.events += result.inserted;
    this.counts.duplicates += result.duplicates;
    if (rows.length > 0)
      this.onStored?.({
        inserted: result.inserted,
        newestTime: rows.reduce<string | undefined>(
          (newest, [, time]) => (newest && newest > time ? newest : time),
          undefined,
        ),
      });
    if (stored && stored.length > 0) this.onStoredRows?.(stored);
    return result;
  }
}
