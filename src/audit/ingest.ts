import { createReadStream } from 'node:fs';
import { basename } from 'node:path';
import { createGunzip } from 'node:zlib';
import { SealwatchError } from '../errors.js';
import { AuditSink, type AuditPipelineDeps, type AuditSinkOptions, type IngestCounts } from './audit-sink.js';
import { readLines, type LineReaderOptions } from './line-reader.js';

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
}

export interface IngestResult {
  counts: IngestCounts;
  /** Files that could not be read (missing, unreadable, a broken .gz), after the others were ingested. */
  failures: { file: string; error: AuditSourceError }[];
}

/** Files are read fast: bigger transactions than follow/listen, still a few tens of MiB. */
const INGEST_BATCH_SIZE = 4_000;

/** 1 MiB reads: fewer syscalls and fewer async steps per line; memory stays a few MiB. */
const READ_CHUNK = 1024 * 1024;

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
  const endBulkLoad = await deps.store.auditEvents.beginBulkLoad();
  try {
    for (const file of files) {
      try {
        await ingestOne(file, sink, deps, options);
      } catch (error) {
        // What was read before the failure is kept; the rest of this file is not.
        await sink.flush();
        const reason = (error as NodeJS.ErrnoException).code ?? (error as Error).message;
        failures.push({
          file,
          error: new AuditSourceError(`audit log ${file} cannot be read: ${reason}`, { cause: error }),
        });
        deps.logger.debug({ file, reason }, 'audit log unreadable');
      }
    }
    await sink.flush();
  } finally {
    await endBulkLoad();
  }
  return { counts: sink.counts, failures };
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
  if (file === '-') {
    if (!deps.stdin) throw new AuditSourceError('standard input is not available');
    return deps.stdin as AsyncIterable<Buffer | string>;
  }
  const raw = createReadStream(file, { highWaterMark: READ_CHUNK });
  if (!basename(file).endsWith('.gz')) return raw;
  const gunzip = createGunzip({ chunkSize: READ_CHUNK });
  // pipe() does not forward errors: a missing .gz must fail the iteration, not hang it.
  raw.on('error', (error) => gunzip.destroy(error));
  return raw.pipe(gunzip);
}
