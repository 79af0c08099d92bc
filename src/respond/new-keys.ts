import { closeSync, existsSync, openSync, readFileSync, renameSync, writeSync, chmodSync } from 'node:fs';
import { errorMessage, systemErrorCode, UsageError } from '../errors.js';

/**
 * The new key material a rekey produces. It lives in memory (KeyCustody) for the steps after the
 * rekey (recover unseals with it), and goes exactly once to where the operator said: a new-keys
 * file (mode 0600, never overwritten), the terminal, or — encrypted — to the PGP key holders. It
 * is never logged and never part of evidence, outputs or the journal.
 */
export interface NewKeyMaterial {
  incidentId: string;
  target: 'unseal' | 'recovery';
  keyShares: number;
  keyThreshold: number;
  /** The new shares in clear (hex); empty when they were encrypted to PGP key holders. */
  shares: string[];
  /** base64 of each PGP-encrypted share, in the order of `pgpFingerprints`. */
  encryptedShares: string[];
  pgpFingerprints: string[];
  /** Set once the new root token has been generated. */
  rootToken?: string;
}

export interface KeyCustody {
  /** The material of the last rekey in this process, if any. */
  current(): Readonly<NewKeyMaterial> | undefined;
  hand(material: NewKeyMaterial): void;
  /** Forget it (the recover step calls this once the operator holds the keys). */
  clear(): void;
}

export function createKeyCustody(): KeyCustody {
  let material: NewKeyMaterial | undefined;
  return {
    current: () => material,
    hand: (m) => void (material = { ...m, shares: [...m.shares], encryptedShares: [...m.encryptedShares] }),
    clear: () => void (material = undefined),
  };
}

/** The JSON a new-keys file holds; `unseal_keys` makes it readable by --unseal-keys-file. */
interface NewKeysFile {
  sealwatch_new_keys: 1;
  warning: string;
  incident_id: string;
  created_at: string;
  target: 'unseal' | 'recovery';
  key_shares: number;
  key_threshold: number;
  unseal_keys?: string[];
  unseal_keys_pgp_base64?: string[];
  pgp_fingerprints?: string[];
  root_token?: string;
}

const WARNING =
  'New key shares and root token of a rekey: hand each share to its holder, then delete this file.';

function toFile(m: NewKeyMaterial): NewKeysFile {
  return {
    sealwatch_new_keys: 1,
    warning: WARNING,
    incident_id: m.incidentId,
    created_at: new Date().toISOString(),
    target: m.target,
    key_shares: m.keyShares,
    key_threshold: m.keyThreshold,
    ...(m.shares.length > 0 ? { unseal_keys: m.shares } : {}),
    ...(m.encryptedShares.length > 0
      ? { unseal_keys_pgp_base64: m.encryptedShares, pgp_fingerprints: m.pgpFingerprints }
      : {}),
    ...(m.rootToken ? { root_token: m.rootToken } : {}),
  };
}

export function assertNewKeysFileAbsent(file: string): void {
  if (existsSync(file))
    throw new UsageError(`--new-keys-out ${file} already exists: sealwatch never overwrites key material`);
}

/** Creates the file (O_EXCL, 0600): it fails rather than replace a file someone else wrote. */
export function createNewKeysFile(file: string, material: NewKeyMaterial): void {
  let fd: number;
  try {
    fd = openSync(file, 'wx', 0o600);
  } catch (error) {
    const code = systemErrorCode(error);
    throw new UsageError(
      code === 'EEXIST'
        ? `--new-keys-out ${file} already exists: sealwatch never overwrites key material`
        : `--new-keys-out ${file} cannot be created: ${code ?? 'error'}`,
    );
  }
  try {
    writeSync(fd, JSON.stringify(toFile(material), null, 2) + '\n');
  } finally {
    closeSync(fd);
  }
}

/** Rewrites the file this rekey created (adding the root token), atomically and 0600. */
export function updateNewKeysFile(file: string, material: NewKeyMaterial): void {
  const tmp = `${file}.${process.pid}.tmp`;
  const fd = openSync(tmp, 'w', 0o600);
  try {
    writeSync(fd, JSON.stringify(toFile(material), null, 2) + '\n');
  } finally {
    closeSync(fd);
  }
  chmodSync(tmp, 0o600);
  renameSync(tmp, file);
}

/**
 * Reads a new-keys file back (a resumed incident); undefined when it is absent or not ours. One that
 * cannot be read or parsed is an error: it may hold the only copy of the new shares.
 */
export function readNewKeysFile(file: string): NewKeyMaterial | undefined {
  if (!existsSync(file)) return undefined;
  let parsed: Partial<NewKeysFile>;
  try {
    parsed = JSON.parse(readFileSync(file, 'utf8')) as Partial<NewKeysFile>;
  } catch (error) {
    throw new UsageError(
      `the new-keys file ${file} cannot be read as JSON (${errorMessage(error)}): it may hold the only copy of the new key shares; repair it, or move it away if it is not one`,
      { cause: error },
    );
  }
  if (parsed.sealwatch_new_keys !== 1 || typeof parsed.incident_id !== 'string') return undefined;
  return {
    incidentId: parsed.incident_id,
    target: parsed.target === 'recovery' ? 'recovery' : 'unseal',
    keyShares: parsed.key_shares ?? 0,
    keyThreshold: parsed.key_threshold ?? 0,
    shares: parsed.unseal_keys ?? [],
    encryptedShares: parsed.unseal_keys_pgp_base64 ?? [],
    pgpFingerprints: parsed.pgp_fingerprints ?? [],
    ...(parsed.root_token ? { rootToken: parsed.root_token } : {}),
  };
}
