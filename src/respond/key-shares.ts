import { readFileSync } from 'node:fs';
import type { Readable } from 'node:stream';
import { UsageError, systemErrorCode } from '../errors.js';
import { registerSecret } from '../logging/redactor.js';

/**
 * The current unseal (or recovery) key shares the operator hands sealwatch for a rekey: one share
 * per line, from a file (`--unseal-keys-file`) or standard input (`--unseal-keys-stdin`). A
 * sealwatch new-keys file (JSON written by a previous rekey, `unseal_keys`) is read as well, so a
 * resumed incident can continue with the shares it produced. Errors name the line, never a share.
 */
const SHARE = /^[A-Za-z0-9+/=]+$/;

export function parseKeyShares(text: string, source: string, options: { minimum?: number } = {}): string[] {
  const shares = text.trimStart().startsWith('{')
    ? sharesFromJson(text, source)
    : sharesFromLines(text, source);
  if (shares.length === 0) throw new UsageError(`${source}: no key shares`);
  // Known as secrets before anything can quote them (even shares that turn out to be wrong).
  registerSecret(...shares);
  const seen = new Map<string, number>();
  shares.forEach((share, i) => {
    if (!SHARE.test(share))
      throw new UsageError(`${source}: share ${i + 1} is neither hex nor base64 (one share per line)`);
    const first = seen.get(share);
    if (first !== undefined)
      throw new UsageError(`${source}: share ${i + 1} is a duplicate of share ${first + 1}`);
    seen.set(share, i);
  });
  const minimum = options.minimum ?? 1;
  if (shares.length < minimum)
    throw new UsageError(
      `${source}: ${shares.length} key share${shares.length === 1 ? '' : 's'} given, the threshold is ${minimum}`,
    );
  return shares;
}

function sharesFromLines(text: string, source: string): string[] {
  const lines = text.replace(/\r/g, '').split('\n');
  while (lines.length > 0 && lines[lines.length - 1]!.trim() === '') lines.pop();
  return lines.map((line, i) => {
    const share = line.trim();
    if (share === '') throw new UsageError(`${source}: line ${i + 1} is blank (one share per line)`);
    return share;
  });
}

function sharesFromJson(text: string, source: string): string[] {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    throw new UsageError(`${source}: starts with { but is not JSON (expected one share per line)`);
  }
  const keys = (parsed as { unseal_keys?: unknown }).unseal_keys;
  if (!Array.isArray(keys) || !keys.every((k): k is string => typeof k === 'string'))
    throw new UsageError(`${source}: JSON without an unseal_keys list of strings`);
  return keys.map((k) => k.trim());
}

export function readKeySharesFile(file: string, options: { minimum?: number } = {}): string[] {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (error) {
    throw new UsageError(`--unseal-keys-file ${file} cannot be read: ${systemErrorCode(error) ?? 'error'}`);
  }
  return parseKeyShares(text, file, options);
}

export async function readKeySharesStream(
  input: Readable,
  options: { minimum?: number } = {},
): Promise<string[]> {
  const chunks: Buffer[] = [];
  for await (const chunk of input) chunks.push(Buffer.isBuffer(chunk) ? chunk : Buffer.from(String(chunk)));
  return parseKeyShares(Buffer.concat(chunks).toString('utf8'), 'standard input', options);
}
