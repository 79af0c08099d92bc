/**
 * The parse worker of `audit ingest` (see parse-thread.ts): reads audit log files, splits and
 * parses their lines and posts the rows to the thread that stores them, a bounded number of
 * messages ahead of it.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { PathTemplateMatcher } from '../config/path-template.js';
import { openAuditFile } from './audit-file.js';
import { emptyParsedLines, parseLines, type ParsedLines } from './audit-sink.js';
import { readLines } from './line-reader.js';
import type { ParseThreadData, ToParser, ToStorer } from './parse-thread.js';

const port = parentPort!;
const settings = workerData as ParseThreadData;
const matcher = new PathTemplateMatcher(settings.templates);
let errorBudget = settings.maxErrors;
let inFlight = 0;
let resume: (() => void) | undefined;

port.on('message', (message: ToParser) => {
  if (message.kind === 'ack') {
    inFlight--;
    resume?.();
    resume = undefined;
  } else void parseFile(message.file, message.source);
});

function post(message: ToStorer): void {
  port.postMessage(message);
}

/** Posts parsed lines, first waiting while the storing thread is `maxInFlight` messages behind. */
async function send(parsed: ParsedLines): Promise<void> {
  while (inFlight >= settings.maxInFlight) await new Promise<void>((r) => (resume = r));
  inFlight++;
  errorBudget = Math.max(0, errorBudget - parsed.errors.length);
  post({ kind: 'lines', parsed });
}

async function parseFile(file: string, source: string): Promise<void> {
  const context = { matcher, source };
  let parsed = emptyParsedLines();
  try {
    const lines = readLines(openAuditFile(file), { flushPartial: true, maxLineBytes: settings.maxLineBytes });
    for await (const batch of lines) {
      parseLines(batch, context, parsed, errorBudget);
      if (parsed.rows.length >= settings.rowsPerMessage || parsed.lines >= 4 * settings.rowsPerMessage) {
        await send(parsed);
        parsed = emptyParsedLines();
      }
    }
    if (parsed.lines > 0) await send(parsed);
    post({ kind: 'end' });
  } catch (error) {
    // What was read before the failure is kept, as in-thread ingestion keeps it.
    if (parsed.lines > 0) await send(parsed);
    const { code, message } = error as NodeJS.ErrnoException;
    post({ kind: 'failed', ...(code === undefined ? {} : { code }), message: String(message) });
  }
}
