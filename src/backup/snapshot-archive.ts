import { createHash } from 'node:crypto';
import { createReadStream, openSync, readSync, closeSync, statSync } from 'node:fs';
import { PassThrough, Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { Parser, type ReadEntry } from 'tar';
import { SnapshotFileError } from './backup.errors.js';
import { systemErrorCode, errorMessage } from '../errors.js';

/** What an OpenBao/Vault raft snapshot holds: a gzip'd tar of these, the sums covering the first two. */
const REQUIRED = ['meta.json', 'state.bin', 'SHA256SUMS'] as const;

export interface SnapshotArchive {
  file: string;
  bytes: number;
  /** SHA-256 of the whole file (what `backup snapshot` recorded). */
  sha256: string;
  /** Entries in the archive, in order. */
  entries: string[];
  /** From meta.json: the raft index and term the snapshot was taken at. */
  raft: { index: number; term: number; size: number };
}

interface Entry {
  sha256: string;
  size: number;
  text?: string;
}

/**
 * Checks offline, in one streaming pass, that `file` is a complete raft snapshot: gzip, a tar
 * holding meta.json, state.bin and SHA256SUMS, every sum matching its entry, meta.json's size
 * matching state.bin. Answers the file's own SHA-256 as well. Never holds the snapshot in memory.
 * Any problem is a SnapshotFileError naming the file and what is wrong with it.
 */
export async function inspectSnapshotFile(file: string): Promise<SnapshotArchive> {
  let bytes: number;
  try {
    const stat = statSync(file);
    if (!stat.isFile()) throw new SnapshotFileError(file, 'not a regular file');
    bytes = stat.size;
  } catch (error) {
    if (error instanceof SnapshotFileError) throw error;
    throw new SnapshotFileError(file, `cannot be read (${systemErrorCode(error) ?? 'error'})`);
  }
  if (bytes === 0) throw new SnapshotFileError(file, 'empty file, not a raft snapshot');
  if (!isGzip(file))
    throw new SnapshotFileError(file, 'not a raft snapshot (not gzip-compressed; a snapshot is a .tar.gz)');

  const whole = createHash('sha256');
  const entries = new Map<string, Entry>();
  const order: string[] = [];
  const parser = new Parser({
    strict: true,
    onReadEntry: (entry: ReadEntry) => {
      order.push(entry.path);
      const hash = createHash('sha256');
      const keepText = entry.path === 'meta.json' || entry.path === 'SHA256SUMS';
      const chunks: Buffer[] = [];
      let size = 0;
      entry.on('data', (chunk: Buffer) => {
        hash.update(chunk);
        size += chunk.length;
        if (keepText && size <= 1 << 20) chunks.push(chunk);
      });
      entry.on('end', () => {
        entries.set(entry.path, {
          sha256: hash.digest('hex'),
          size,
          ...(keepText ? { text: Buffer.concat(chunks).toString('utf8') } : {}),
        });
      });
    },
  });
  let bad: string | undefined;
  parser.on('warn', (code: string, message: string) => (bad ??= `${code}: ${message}`));
  try {
    await pipeline(
      createReadStream(file),
      new Transform({
        transform(chunk: Buffer, _encoding, done) {
          whole.update(chunk);
          done(null, chunk);
        },
      }),
      parser as unknown as PassThrough,
    );
  } catch (error) {
    throw new SnapshotFileError(file, describeReadError(errorMessage(error), bytes));
  }
  if (bad) throw new SnapshotFileError(file, describeReadError(bad, bytes));

  for (const name of REQUIRED)
    if (!entries.has(name))
      throw new SnapshotFileError(
        file,
        order.length === 0
          ? 'not a raft snapshot (a gzip file, but no tar entries in it)'
          : `not a raft snapshot: no ${name} in the archive (found ${order.join(', ')})`,
      );
  const sums = parseSums(file, entries.get('SHA256SUMS')!.text ?? '');
  for (const name of ['meta.json', 'state.bin']) {
    const expected = sums.get(name);
    if (!expected) throw new SnapshotFileError(file, `SHA256SUMS has no sum for ${name}`);
    if (expected !== entries.get(name)!.sha256)
      throw new SnapshotFileError(
        file,
        `${name} does not match its SHA256SUMS entry: the snapshot is corrupt`,
      );
  }
  const raft = parseMeta(file, entries.get('meta.json')!.text ?? '');
  if (raft.size !== entries.get('state.bin')!.size)
    throw new SnapshotFileError(
      file,
      `state.bin has ${entries.get('state.bin')!.size} bytes but meta.json says ${raft.size}: the snapshot is corrupt`,
    );
  return { file, bytes, sha256: whole.digest('hex'), entries: order, raft };
}

function isGzip(file: string): boolean {
  const fd = openSync(file, 'r');
  try {
    const head = Buffer.alloc(2);
    return readSync(fd, head, 0, 2, 0) === 2 && head[0] === 0x1f && head[1] === 0x8b;
  } finally {
    closeSync(fd);
  }
}

function describeReadError(message: string, bytes: number): string {
  if (/unexpected end of file|truncated/i.test(message))
    return `truncated: the archive ends early after ${bytes} bytes (${message})`;
  return `not a raft snapshot (${message})`;
}

function parseSums(file: string, text: string): Map<string, string> {
  const sums = new Map<string, string>();
  for (const line of text.split('\n')) {
    const match = /^([0-9a-f]{64})\s+\*?(.+)$/.exec(line.trim());
    if (match) sums.set(match[2]!, match[1]!);
  }
  if (sums.size === 0) throw new SnapshotFileError(file, 'SHA256SUMS holds no sums');
  return sums;
}

function parseMeta(file: string, text: string): SnapshotArchive['raft'] {
  try {
    const meta = JSON.parse(text) as { Index?: unknown; Term?: unknown; Size?: unknown };
    if (typeof meta.Index === 'number' && typeof meta.Term === 'number' && typeof meta.Size === 'number')
      return { index: meta.Index, term: meta.Term, size: meta.Size };
  } catch {
    // reported below
  }
  throw new SnapshotFileError(file, 'meta.json is not raft snapshot metadata (Index, Term, Size)');
}
