import { open, stat, type FileHandle } from 'node:fs/promises';
import { resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { AuditCheckpoint } from '../store/repositories/audit-events.repository.js';
import { AuditSink, type AuditPipelineDeps, type AuditSinkOptions, type IngestCounts } from './audit-sink.js';
import { readLines } from './line-reader.js';
import { systemErrorCode } from '../errors.js';

export interface FollowOptions extends AuditSinkOptions {
  file: string;
  /** How often the file is checked for growth, rotation and truncation. */
  pollMs?: number;
  /** How long a rotated file must stay unchanged before it is closed (default 4 polls, at least 1 s). */
  rotationGraceMs?: number;
  /** Stop after this long (tests, cron-style runs). */
  maxSeconds?: number;
  /** Stop once nothing new arrived for this long. */
  untilIdleSeconds?: number;
  signal?: AbortSignal;
  /** What a human should know: rotation, truncation, a missing file. */
  onNotice?: (message: string) => void;
}

export interface FollowResult {
  counts: IngestCounts;
  rotations: number;
  truncations: number;
  /** Where the next run resumes. */
  checkpoint: AuditCheckpoint | undefined;
  stoppedBy: 'signal' | 'max-seconds' | 'idle';
}

interface Position {
  handle: FileHandle;
  inode: string;
  offset: number;
  line: number;
}

const READ_CHUNK = 1024 * 1024;

/**
 * Tails a file audit device like `tail -F`, but never loses or repeats an event:
 * - the position (inode, byte offset, line) is saved in the store in the same transaction as the
 *   events up to it, so a restart resumes exactly there;
 * - rotation (rename + new file) is seen as a new inode at the path: the old file is read to its
 *   end through the still-open descriptor, then the new one from its start;
 * - truncation (size below the offset) restarts at 0;
 * - a missing file is reported and waited for.
 * Polling (not fs.watch): it behaves the same on every filesystem, and audit logs grow steadily.
 */
export async function followAuditFile(
  options: FollowOptions,
  deps: AuditPipelineDeps,
): Promise<FollowResult> {
  const file = resolve(options.file);
  const notice = options.onNotice ?? (() => undefined);
  const pollMs = options.pollMs ?? 250;
  const rotationGraceMs = options.rotationGraceMs ?? Math.max(4 * pollMs, 1_000);
  const started = Date.now();
  const sink = new AuditSink(deps, options);
  let rotations = 0;
  let truncations = 0;
  let lastActivity = Date.now();
  let missingReported = false;
  let checkpoint = await deps.store.auditEvents.getCheckpoint(file);
  let current: Position | undefined;

  const stopReason = (): FollowResult['stoppedBy'] | undefined => {
    if (options.signal?.aborted) return 'signal';
    if (options.maxSeconds !== undefined && Date.now() - started >= options.maxSeconds * 1000)
      return 'max-seconds';
    if (
      options.untilIdleSeconds !== undefined &&
      Date.now() - lastActivity >= options.untilIdleSeconds * 1000
    )
      return 'idle';
    return undefined;
  };

  /** Reads from the position to `size`, storing events and the position after them. */
  const drain = async (position: Position, size: number, final: boolean): Promise<void> => {
    if (size <= position.offset && !final) return;
    const chunks = readRange(position.handle, position.offset, size);
    for await (const lines of readLines(chunks, {
      startOffset: position.offset,
      startLine: position.line,
      flushPartial: final,
    })) {
      const last = lines[lines.length - 1]!;
      const full = sink.add(lines, file);
      position.offset = last.end;
      position.line = last.number;
      lastActivity = Date.now();
      if (full) checkpoint = await commit(position);
    }
    checkpoint = await commit(position);
  };

  const commit = async (position: Position): Promise<AuditCheckpoint> => {
    const next = { source: file, inode: position.inode, offset: position.offset, line: position.line };
    if (checkpoint && sameCheckpoint(checkpoint, next) && sink.pending === 0) return checkpoint;
    await sink.flush(next);
    return next;
  };

  const openCurrent = async (): Promise<Position | undefined> => {
    let handle: FileHandle;
    try {
      handle = await open(file, 'r');
    } catch (error) {
      if (systemErrorCode(error) !== 'ENOENT') throw error;
      if (!missingReported) notice(`${file} does not exist (yet); waiting for it`);
      missingReported = true;
      return undefined;
    }
    missingReported = false;
    const info = await handle.stat();
    const inode = String(info.ino);
    if (checkpoint && checkpoint.inode === inode && info.size >= checkpoint.offset) {
      if (checkpoint.offset > 0)
        notice(`resuming ${file} at line ${checkpoint.line + 1} (byte ${checkpoint.offset})`);
      return { handle, inode, offset: checkpoint.offset, line: checkpoint.line };
    }
    if (checkpoint && checkpoint.inode === inode) {
      truncations++;
      notice(`${file} was truncated while sealwatch was stopped; reading it from the start`);
    } else if (checkpoint && checkpoint.offset > 0)
      notice(
        `${file} was rotated while sealwatch was stopped; reading the new file from the start ` +
          `(ingest the rotated file with sealwatch audit ingest to be sure nothing is missing)`,
      );
    return { handle, inode, offset: 0, line: 0 };
  };

  let stoppedBy: FollowResult['stoppedBy'] | undefined;
  try {
    while (!(stoppedBy = stopReason())) {
      current ??= await openCurrent();
      if (current) {
        const own = await current.handle.stat();
        await drain(current, own.size < current.offset ? current.offset : own.size, false);
        // Gone from its path (or not stat-able there) counts as rotated: the open handle is drained, then the path is reopened, where an error is reported.
        const atPath = await stat(file).catch(() => undefined);
        if (!atPath || String(atPath.ino) !== current.inode) {
          // Rotated or removed: the writer may still add to the old file until it reopens (logrotate
          // renames, then signals), so read it until it has been quiet for a grace period.
          let size = (await current.handle.stat()).size;
          for (;;) {
            await drain(current, size, false);
            // An abort ends the wait early; the loop below checks the signal.
            await sleep(rotationGraceMs, undefined, { signal: options.signal }).catch(() => undefined);
            const grown = (await current.handle.stat()).size;
            if (grown === size || options.signal?.aborted) break;
            size = grown;
          }
          await drain(current, size, true);
          await current.handle.close();
          current = undefined;
          if (atPath) {
            rotations++;
            notice(`${file} was rotated; finished the old file, reading the new one`);
            checkpoint = undefined;
            continue;
          }
          notice(`${file} disappeared; waiting for it to come back`);
          missingReported = true;
          checkpoint = undefined;
        } else if (atPath.size < current.offset) {
          truncations++;
          notice(`${file} was truncated; reading it from the start`);
          current.offset = 0;
          current.line = 0;
          checkpoint = await commit(current);
          continue;
        }
      }
      // An abort ends the wait early; the loop condition reports why it stopped.
      await sleep(pollMs, undefined, { signal: options.signal }).catch(() => undefined);
    }
  } finally {
    if (current) {
      checkpoint = await commit(current);
      await current.handle.close();
    } else await sink.flush();
  }
  return { counts: sink.counts, rotations, truncations, checkpoint, stoppedBy };
}

const sameCheckpoint = (a: AuditCheckpoint, b: AuditCheckpoint) =>
  a.inode === b.inode && a.offset === b.offset && a.line === b.line;

async function* readRange(handle: FileHandle, from: number, to: number): AsyncGenerator<Buffer> {
  let position = from;
  while (position < to) {
    const buffer = Buffer.allocUnsafe(Math.min(READ_CHUNK, to - position));
    const { bytesRead } = await handle.read(buffer, 0, buffer.length, position);
    if (bytesRead === 0) return;
    position += bytesRead;
    yield buffer.subarray(0, bytesRead);
  }
}
