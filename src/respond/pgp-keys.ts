import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { readKey, type Key } from 'openpgp';
import { UsageError, systemErrorCode, errorMessage } from '../errors.js';

/** One key holder's PGP public key, as the rekey sends it (`pgp_keys`: base64 of the binary key). */
export interface HolderKey {
  /** The file it was read from (name only); the share encrypted to it comes back in this order. */
  file: string;
  /** Lower-case hex, as Vault reports `pgp_fingerprints`. */
  fingerprint: string;
  base64: string;
}

const KEY_FILE = /\.(asc|gpg)$/i;

/**
 * Reads every `*.asc` (armored) and `*.gpg` (binary or armored) public key in `dir`, sorted by file
 * name so that share N always goes to the same holder. Any file that does not parse as one public
 * key stops everything with a one-line error naming it: a rekey must not start with a holder
 * missing.
 */
export async function loadHolderKeys(dir: string): Promise<HolderKey[]> {
  let names: string[];
  try {
    names = readdirSync(dir)
      .filter((n) => KEY_FILE.test(n))
      .sort();
  } catch (error) {
    throw new UsageError(`--pgp-keys ${dir} cannot be read: ${systemErrorCode(error) ?? 'error'}`);
  }
  if (names.length === 0) throw new UsageError(`--pgp-keys ${dir}: no *.asc or *.gpg public key files`);
  const keys: HolderKey[] = [];
  for (const name of names) {
    const file = join(dir, name);
    const key = await parseKeyFile(file);
    if (key.isPrivate())
      throw new UsageError(`--pgp-keys ${file} is a private key: export the holder's public key only`);
    const fingerprint = key.getFingerprint().toLowerCase();
    const twin = keys.find((k) => k.fingerprint === fingerprint);
    if (twin) throw new UsageError(`--pgp-keys ${file} is the same key as ${twin.file}: one key per holder`);
    keys.push({ file: name, fingerprint, base64: Buffer.from(key.write()).toString('base64') });
  }
  return keys;
}

async function parseKeyFile(file: string): Promise<Key> {
  let data: Buffer;
  try {
    data = readFileSync(file);
  } catch (error) {
    throw new UsageError(`--pgp-keys ${file} cannot be read: ${systemErrorCode(error) ?? 'error'}`);
  }
  try {
    const text = data.toString('utf8');
    return text.includes('-----BEGIN PGP')
      ? await readKey({ armoredKey: text })
      : await readKey({ binaryKey: new Uint8Array(data) });
  } catch (error) {
    const reason = errorMessage(error).split('\n')[0];
    throw new UsageError(`--pgp-keys ${file} is not a PGP public key: ${reason}`);
  }
}
