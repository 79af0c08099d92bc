import { stat } from 'node:fs/promises';
import { SealwatchError, describeSystemError } from '../errors.js';
import { openAuditFile } from './audit-file.js';
import {
  AuditSink,
  DEFAULT_MAX_ERRORS,
  type AuditPipelineDeps,
  type AuditSinkOptions,
  type IngestCounts,
} from './audit-sink.js';
import { readLines, type LineReaderOptions } from './line-reader.js';
import { ParseThread } from './parse-thread.js';

export class AuditSourceError extends SealwatchError {
  constructor(message: string, options: ConstructorParameters<typeof SealwatchError>[2] = {}) {
    super('audit_source_unreadable', message, options);
  }
}

export interface IngestDeps extends AuditPipelineDeps {
  /** Standard input, for the file name `-`. */
  stdin?: NodeJS.ReadableStream;
}

export interface IngestOptions extends AuditSinkOptions, Pick<LineReaderOptions, 'maxLineBytes'> {
  /** Called after each stored batch (progress on long files). */
  onBatch?: (counts: IngestCounts) => void;
  /**
   * Called once every line is stored, before the store builds the indexes a bulk load deferred and
   * checkpoints (seconds on a million events, with nothing else to report meanwhile).
   */
  onFinishing?: (counts: IngestCounts) => void;
  /**
   * Parse in a worker thread while this one stores: `auto` (the default) does when the named files
   * add up to PARSE_THREAD_MIN_BYTES, where the thread's start-up is worth it. Standard input is
   * always parsed here.
   */
  parseThread?: boolean | 'auto';
}

export interface IngestResult {
  counts: IngestCounts;
  /** Files that could not be read (missing, unreadable, a broken .gz), after the others were ingested. */
  failures: { file: string; error: AuditSourceError }[];
}

/**
 * Events stored at a time. Parsed in a worker thread (large inputs), batches share longer
 * transactions (see beginBulkLoad), so this bounds memory only.
 */
export const INGEST_BATCH_SIZE = 4_000;

/** Rows per message from the parse worker, and messages it may be ahead of the storing thread. */
const ROWS_PER_MESSAGE = 2_000;
const MESSAGES_IN_FLIGHT = 2;

/** Below this much input a worker thread costs more to start than it saves. */
export const PARSE_THREAD_MIN_BYTES = 8 * 1024 * 1024;

/**
 * Ingests audit log files (`-` is standard input, `.gz` is gunzipped) into the store: streamed
 * line by line, parsed, stored in bounded batches, so memory stays flat whatever the file size.
 * Malformed lines are counted and reported, never fatal; a file that cannot be read is reported
 * after the others are done.
 */
export async function ingestAuditFiles(
  files: readonly string[],
  deps: IngestDeps,
  options: IngestOptions = {},
): Promise<IngestResult> {
  const sink = new AuditSink(deps, { batchSize: INGEST_BATCH_SIZE, ...options });
  const failures: IngestResult['failures'] = [];
  const parser = (await wantParseThread(files, options.parseThread ?? 'auto'))
    ? new ParseThread({
        templates: deps.matcher.templates,
        maxLineBytes: options.maxLineBytes,
        maxErrors: options.maxErrors ?? DEFAULT_MAX_ERRORS,
        rowsPerMessage: ROWS_PER_MESSAGE,
        maxInFlight: MESSAGES_IN_FLIGHT,
      })
    : undefined;
  const endBulkLoad = await deps.store.auditEvents.beginBulkLoad({ longTransactions: parser !== undefined });
  try {
    for (const file of files) {
      try {
        if (parser && file !== '-') await ingestParsedElsewhere(file, parser, sink, options);
        else await ingestOne(file, sink, deps, options);
      } catch (error) {
        // What was read before the failure is kept; the rest of this file is not.
        await sink.flush();
        const reason = describeSystemError(error);
        failures.push({
          file,
          error: new AuditSourceError(`audit log ${file} cannot be read: ${reason}`, { cause: error }),
        });
        deps.logger.debug({ file, reason }, 'audit log unreadable');
      }
    }
    await sink.flush();
  } finally {
    await parser?.close();
    options.onFinishing?.(sink.counts);
    // Events stored twice while the load had no unique index, removed now (see beginBulkLoad).
    const { duplicates } = await endBulkLoad();
    sink.counts.events -= duplicates;
    sink.counts.duplicates += duplicates;
  }
  return { counts: sink.counts, failures };
}

async function wantParseThread(files: readonly string[], wanted: boolean | 'auto'): Promise<boolean> {
  if (wanted !== 'auto') return wanted && files.some((f) => f !== '-');
  let bytes = 0;
  for (const file of files) {
    if (file === '-') continue;
    bytes += await stat(file).then(
      (s) => s.size,
      () => 0,
    );
  }
  return bytes >= PARSE_THREAD_MIN_BYTES;
}

async function ingestParsedElsewhere(
  file: string,
  parser: ParseThread,
  sink: AuditSink,
  options: IngestOptions,
): Promise<void> {
  for await (const parsed of parser.parse(file, file)) {
    if (sink.addParsed(parsed, file)) {
      await sink.flush();
      options.onBatch?.(sink.counts);
    }
  }
}

async function ingestOne(
  file: string,
  sink: AuditSink,
  deps: IngestDeps,
  options: IngestOptions,
): Promise<void> {
  const source = file === '-' ? 'stdin' : file;
  const input = openInput(file, deps);
  const lines = readLines(input, { flushPartial: true, maxLineBytes: options.maxLineBytes });
  for await (const batch of lines) {
    if (sink.add(batch, source)) {
      await sink.flush();
      options.onBatch?.(sink.counts);
    }
  }
}

function openInput(file: string, deps: IngestDeps): AsyncIterable<Buffer | string> {
  if (file !== '-') return openAuditFile(file);
  if (!deps.stdin) throw new AuditSourceError('standard input is not available');
  return deps.stdin as AsyncIterable<Buffer | string>;
}
