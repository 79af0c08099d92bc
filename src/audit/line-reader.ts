/**
 * Splits a byte stream into lines and says where each one ends, so `audit follow` can checkpoint a
 * byte offset that is exactly the start of the next line. Splitting on the byte 0x0A is safe in
 * UTF-8 (no multi-byte sequence contains it) and much faster than readline.
 */
export interface RawLine {
  text: string;
  /** 1-based, counted from where reading started. */
  number: number;
  /** Byte offset just after this line's newline (or end of data for a last line without one). */
  end: number;
  /** Set when the line was longer than the limit: its text is empty and it must be reported. */
  tooLong?: boolean;
}

export interface LineReaderOptions {
  /** Byte offset of the first byte the stream yields (where a resumed read starts). */
  startOffset?: number;
  /** Line number of the line before the first one read (0 at the start of a file). */
  startLine?: number;
  /** Longer lines are skipped and reported instead of growing memory without bound. */
  maxLineBytes?: number;
  /** Emit a last line that has no newline (a finished file); `follow` waits for the newline instead. */
  flushPartial?: boolean;
}

export const DEFAULT_MAX_LINE_BYTES = 16 * 1024 * 1024;
const NEWLINE = 0x0a;

export async function* readLines(
  chunks: AsyncIterable<Buffer | string>,
  options: LineReaderOptions = {},
): AsyncGenerator<RawLine[]> {
  const max = options.maxLineBytes ?? DEFAULT_MAX_LINE_BYTES;
  let offset = options.startOffset ?? 0;
  let number = options.startLine ?? 0;
  let pending: Buffer[] = [];
  let pendingBytes = 0;
  let skipping = false;
  for await (const raw of chunks) {
    const chunk = typeof raw === 'string' ? Buffer.from(raw) : raw;
    // Lines are yielded per chunk, not one by one: an async step per line costs more than parsing it.
    const out: RawLine[] = [];
    let start = 0;
    for (;;) {
      const nl = chunk.indexOf(NEWLINE, start);
      if (nl === -1) break;
      number++;
      const length = pendingBytes + (nl - start);
      offset += nl - start + 1;
      if (skipping || length > max) out.push({ text: '', number, end: offset, tooLong: true });
      else if (pendingBytes === 0)
        out.push({ text: stripCr(chunk.toString('utf8', start, nl)), number, end: offset });
      else {
        pending.push(chunk.subarray(start, nl));
        out.push({ text: stripCr(Buffer.concat(pending).toString('utf8')), number, end: offset });
      }
      pending = [];
      pendingBytes = 0;
      skipping = false;
      start = nl + 1;
    }
    if (start < chunk.length) {
      const rest = chunk.length - start;
      offset += rest;
      if (!skipping && pendingBytes + rest <= max) {
        // Copied: the stream may reuse its buffer, and a small tail must not pin a large chunk.
        pending.push(Buffer.from(chunk.subarray(start)));
        pendingBytes += rest;
      } else {
        skipping = true;
        pending = [];
        pendingBytes += rest;
      }
    }
    if (out.length > 0) yield out;
  }
  if (options.flushPartial && (pendingBytes > 0 || skipping)) {
    number++;
    yield [
      skipping
        ? { text: '', number, end: offset, tooLong: true }
        : { text: stripCr(Buffer.concat(pending).toString('utf8')), number, end: offset },
    ];
  }
}

const stripCr = (text: string) => (text.endsWith('\r') ? text.slice(0, -1) : text);
