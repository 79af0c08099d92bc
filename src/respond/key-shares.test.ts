import { describe, expect, it } from 'vitest';
import { parseKeyShares } from './key-shares.js';

const a = 'aa'.repeat(33);
const b = 'bb'.repeat(33);
const c = 'cc'.repeat(33);

describe('parseKeyShares', () => {
  it('reads one share per line, trailing newlines and CRLF allowed', () => {
    expect(parseKeyShares(`${a}\r\n${b}\n${c}\n\n`, 'f')).toEqual([a, b, c]);
  });
  it('reads a sealwatch new-keys file', () => {
    expect(parseKeyShares(JSON.stringify({ unseal_keys: [a, b] }), 'f')).toEqual([a, b]);
  });
  it('refuses blank, duplicate, malformed and too few shares in one line without the value', () => {
    const cases: [string, string][] = [
      [`${a}\n\n${b}`, 'f: line 2 is blank (one share per line)'],
      [`${a}\n${b}\n${a}`, 'f: share 3 is a duplicate of share 1'],
      [`${a}\nnot a share!`, 'f: share 2 is neither hex nor base64 (one share per line)'],
      ['', 'f: no key shares'],
    ];
    for (const [text, message] of cases) expect(() => parseKeyShares(text, 'f')).toThrow(message);
    expect(() => parseKeyShares(`${a}\n${b}`, 'f', { minimum: 3 })).toThrow(
      'f: 2 key shares given, the threshold is 3',
    );
  });
});
