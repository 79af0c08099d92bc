import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { create } from 'tar';
import { afterAll, describe, expect, it } from 'vitest';
import { SnapshotFileError } from './backup.errors.js';
import { inspectSnapshotFile } from './snapshot-archive.js';

const dir = mkdtempSync(join(tmpdir(), 'sealwatch-archive-test-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const sha = (data: string | Buffer) => createHash('sha256').update(data).digest('hex');

/** A snapshot laid out as OpenBao writes one: meta.json, state.bin, SHA256SUMS in a .tar.gz. */
async function snapshot(
  name: string,
  options: { sums?: (meta: string, state: Buffer) => string; omit?: string; metaSize?: number } = {},
): Promise<string> {
  const src = mkdtempSync(join(dir, 'src-'));
  const state = randomBytes(40_000);
  const meta = JSON.stringify({ Version: 1, Index: 42, Term: 3, Size: options.metaSize ?? state.length });
  writeFileSync(join(src, 'meta.json'), meta);
  writeFileSync(join(src, 'state.bin'), state);
  writeFileSync(
    join(src, 'SHA256SUMS'),
    options.sums?.(meta, state) ?? `${sha(meta)}  meta.json\n${sha(state)}  state.bin\n`,
  );
  const file = join(dir, name);
  const entries = ['meta.json', 'state.bin', 'SHA256SUMS'].filter((e) => e !== options.omit);
  await create({ gzip: true, file, cwd: src, portable: true }, entries);
  return file;
}

const problem = (file: string) =>
  inspectSnapshotFile(file).then(
    () => 'accepted',
    (error: unknown) => {
      expect(error).toBeInstanceOf(SnapshotFileError);
      return (error as Error).message;
    },
  );

describe('inspectSnapshotFile', () => {
  it('accepts a whole snapshot and answers its SHA-256 and raft position', async () => {
    const file = await snapshot('good.snap');
    const archive = await inspectSnapshotFile(file);
    expect(archive).toMatchObject({
      sha256: sha(readFileSync(file)),
      entries: ['meta.json', 'state.bin', 'SHA256SUMS'],
      raft: { index: 42, term: 3, size: 40_000 },
    });
  });

  it('names the file and what is wrong with it', async () => {
    const good = readFileSync(await snapshot('source.snap'));
    const truncated = join(dir, 'truncated.snap');
    writeFileSync(truncated, good.subarray(0, good.length - 200));
    expect(await problem(truncated)).toMatch(/truncated\.snap: truncated/);

    const random = join(dir, 'random.bin');
    writeFileSync(random, randomBytes(4096));
    expect(await problem(random)).toMatch(/random\.bin: not a raft snapshot \(not gzip/);

    const empty = join(dir, 'empty.snap');
    writeFileSync(empty, '');
    expect(await problem(empty)).toMatch(/empty file/);

    expect(await problem(join(dir, 'missing.snap'))).toMatch(/missing\.snap: cannot be read \(ENOENT\)/);

    const noSums = await snapshot('no-sums.snap', { omit: 'SHA256SUMS' });
    expect(await problem(noSums)).toMatch(/no SHA256SUMS in the archive/);

    const badSum = await snapshot('bad-sum.snap', {
      sums: (meta) => `${sha(meta)}  meta.json\n${'0'.repeat(64)}  state.bin\n`,
    });
    expect(await problem(badSum)).toMatch(/state\.bin does not match its SHA256SUMS entry/);

    const wrongSize = await snapshot('wrong-size.snap', { metaSize: 7 });
    expect(await problem(wrongSize)).toMatch(/state\.bin has 40000 bytes but meta\.json says 7/);
  });
});
