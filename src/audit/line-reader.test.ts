import { describe, expect, it } from 'vitest';
import { readLines, type RawLine } from './line-reader.js';
import { parseBind } from './listen.js';

async function collect(chunks: string[], options: Parameters<typeof readLines>[1] = {}): Promise<RawLine[]> {
  const out: RawLine[] = [];
  async function* source() {
    for (const c of chunks) yield Buffer.from(c);
  }
  for await (const lines of readLines(source(), options)) out.push(...lines);
  return out;
}

describe('readLines', () => {
  it('splits across chunk boundaries and gives the byte offset after each line', async () => {
    const lines = await collect(['{"a":1}\n{"b"', ':2}\r\n', 'é\n'], { flushPartial: true });
    expect(lines.map((l) => [l.text, l.number, l.end])).toEqual([
      ['{"a":1}', 1, 8],
      ['{"b":2}', 2, 17],
      ['é', 3, 20],
    ]);
  });

  it('keeps an unterminated last line for later unless told to flush it', async () => {
    expect((await collect(['x\ny'])).map((l) => l.text)).toEqual(['x']);
    expect((await collect(['x\ny'], { flushPartial: true })).map((l) => l.text)).toEqual(['x', 'y']);
  });

  it('resumes numbering and offsets where a checkpoint says', async () => {
    const [line] = await collect(['z\n'], { startOffset: 100, startLine: 7 });
    expect(line).toMatchObject({ text: 'z', number: 8, end: 102 });
  });

  it('skips and flags a line longer than the limit without buffering it', async () => {
    const lines = await collect(['ok\n', 'x'.repeat(10), 'y'.repeat(10), '\nnext\n'], { maxLineBytes: 15 });
    expect(lines.map((l) => [l.number, l.tooLong ?? false, l.text])).toEqual([
      [1, false, 'ok'],
      [2, true, ''],
      [3, false, 'next'],
    ]);
  });
});

describe('parseBind', () => {
  it('accepts loopback binds', () => {
    expect(parseBind('127.0.0.1:9090', false)).toEqual({ host: '127.0.0.1', port: 9090 });
    expect(parseBind('[::1]:0', false)).toEqual({ host: '::1', port: 0 });
    expect(parseBind('localhost:9090', false)).toEqual({ host: 'localhost', port: 9090 });
  });

  it('refuses other addresses unless remote is allowed', () => {
    expect(() => parseBind('0.0.0.0:9090', false)).toThrow(/not a loopback address.*--allow-remote/);
    expect(() => parseBind('10.0.0.5:9090', false)).toThrow(/--allow-remote/);
    expect(parseBind('0.0.0.0:9090', true)).toEqual({ host: '0.0.0.0', port: 9090 });
    expect(() => parseBind('9090', true)).toThrow(/not host:port/);
    expect(() => parseBind('127.0.0.1:70000', true)).toThrow(/not host:port/);
  });
});
