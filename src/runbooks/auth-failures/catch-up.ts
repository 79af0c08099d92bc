import { open, type FileHandle } from 'node:fs/promises';
import { resolve } from 'node:path';
import { AuditSink, type AuditPipelineDeps } from '../../audit/audit-sink.js';
import { readLines } from '../../audit/line-reader.js';
import { describeSystemError } from '../../errors.js';

export interface CatchUpResult {
  file: string;
  /** Events newly stored by this call. */
  events: number;
  malformed: number;
  /** Bytes of the file not read yet (the time budget ran out); the next call continues there. */
  remainingBytes: number;
  /** Why the file could not be read (missing, unreadable). */
  error?: string;
}

const CHUNK = 1024 * 1024;

/**
 * Brings the audit store up to date with a file audit device's log before a diagnosis: reads from
 * the checkpoint `audit follow` keeps for the file (the same one, so the two share progress) to the
 * end, within a time budget. Events are deduplicated on their key, so reading a line twice (a
 * follower racing this, a truncated checkpoint) stores it once.
 */
export async function catchUpAuditLog(
  path: string,
  deps: AuditPipelineDeps,
  options: { budgetMs: number },
): Promise<CatchUpResult> {
  const file = resolve(path);
  const started = Date.now();
  let handle: FileHandle;
  try {
    handle = await open(file, 'r');
  } catch (error) {
    return {
      file,
      events: 0,
      malformed: 0,
      remainingBytes: 0,
      error: describeSystemError(error),
    };
  }
  const sink = new AuditSink(deps, { batchSize: 2_000 });
  try {
    const info = await handle.stat();
    const inode = String(info.ino);
    const saved = await deps.store.auditEvents.getCheckpoint(file);
    // A rotated or truncated file starts over; duplicates are harmless.
    const resume = saved && saved.inode === inode && saved.offset <= info.size ? saved : undefined;
    let offset = resume?.offset ?? 0;
    let line = resume?.line ?? 0;
    const size = info.size;
    async function* chunks() {
      let position = offset;
      while (position < size && Date.now() - started < options.budgetMs) {
        const buffer = Buffer.allocUnsafe(Math.min(CHUNK, size - position));
        const { bytesRead } = await handle.read(buffer, 0, buffer.length, position);
        if (bytesRead === 0) return;
        position += bytesRead;
        yield buffer.subarray(0, bytesRead);
      }
    }
    for await (const lines of readLines(chunks(), { startOffset: offset, startLine: line })) {
      const last = lines[lines.length - 1]!;
      const full = sink.add(lines, file);
      offset = last.end;
      line = last.number;
      if (full) await sink.flush({ source: file, inode, offset, line });
    }
    await sink.flush({ source: file, inode, offset, line });
    return {
      file,
      events: sink.counts.events,
      malformed: sink.counts.malformed,
      remainingBytes: Math.max(0, size - offset),
    };
  } finally {
    await handle.close();
  }
}
