import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { UsageError } from '../errors.js';
import { readNewKeysFile } from './new-keys.js';

describe('readNewKeysFile', () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'sealwatch-new-keys-'));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('no file: nothing to resume from', () => {
    expect(readNewKeysFile(join(dir, 'absent.json'))).toBeUndefined();
  });

  it('a file that is not JSON is an error naming it, never "no new keys"', () => {
    const file = join(dir, 'new-keys.json');
    writeFileSync(file, '{"sealwatch_new_keys": 1, "unseal_keys": ["ab');
    expect(() => readNewKeysFile(file)).toThrow(UsageError);
    expect(() => readNewKeysFile(file)).toThrow(`the new-keys file ${file} cannot be read as JSON`);
  });

  it("another program's JSON is not ours: nothing to resume from", () => {
    const file = join(dir, 'other.json');
    writeFileSync(file, JSON.stringify({ hello: 'world' }));
    expect(readNewKeysFile(file)).toBeUndefined();
  });
});
