import { randomBytes } from 'node:crypto';
import { chown, open, readFile, rename, rm, stat } from 'node:fs/promises';
import { dirname, join, basename } from 'node:path';
import type { SFTPWrapper, Stats } from 'ssh2';
import { systemErrorCode } from '../../errors.js';

/**
 * authorized_keys editing: pure line handling (unit-tested), and two stores that replace the file
 * atomically (temp file + rename, mode and owner kept), on this host or over SFTP.
 */

/**
 * The identity of a key in an authorized_keys line or a `.pub` value: `<type> <base64>`, without
 * options or comment, so the same key matches however it is annotated. Null for blank lines and
 * comments.
 */
export function keyIdentity(line: string): string | null {
  const trimmed = line.trim();
  if (!trimmed || trimmed.startsWith('#')) return null;
  const tokens = tokenize(trimmed);
  for (let i = 0; i < tokens.length - 1; i++) {
    const type = tokens[i]!;
    const blob = tokens[i + 1]!;
    if (/^(ssh-|ecdsa-|sk-)[a-z0-9@.-]+$/.test(type) && /^[A-Za-z0-9+/]+={0,2}$/.test(blob))
      return `${type} ${blob}`;
  }
  return null;
}

/** Whitespace-separated tokens; double-quoted option values (`command="a b"`) stay one token. */
function tokenize(line: string): string[] {
  const tokens: string[] = [];
  let current = '';
  let quoted = false;
  for (let i = 0; i < line.length; i++) {
    const c = line[i]!;
    if (c === '\\' && quoted && i + 1 < line.length) {
      current += c + line[++i];
    } else if (c === '"') {
      quoted = !quoted;
      current += c;
    } else if (!quoted && (c === ' ' || c === '\t')) {
      if (current) tokens.push(current);
      current = '';
    } else current += c;
  }
  if (current) tokens.push(current);
  return tokens;
}

export function hasKey(content: string, publicKey: string): boolean {
  const id = keyIdentity(publicKey);
  return id !== null && content.split('\n').some((line) => keyIdentity(line) === id);
}

/** The file with `publicKey` appended, or unchanged (same string) when the key is already there. */
export function withKey(content: string, publicKey: string): string {
  if (keyIdentity(publicKey) === null) throw new Error('not an OpenSSH public key line');
  if (hasKey(content, publicKey)) return content;
  const base = content === '' || content.endsWith('\n') ? content : content + '\n';
  return base + publicKey.trim() + '\n';
}

/** The file without any line carrying `publicKey` (whatever its options or comment); other lines untouched. */
export function withoutKey(content: string, publicKey: string): string {
  const id = keyIdentity(publicKey);
  if (id === null) throw new Error('not an OpenSSH public key line');
  if (!hasKey(content, publicKey)) return content;
  return content
    .split('\n')
    .filter((line) => keyIdentity(line) !== id)
    .join('\n');
}

/** The file a tenant's keys live in: `{tenant}` and `{username}` filled in, refusing names that would leave the template's directory. */
export function authorizedKeysPath(template: string, values: { tenant: string; username: string }): string {
  for (const [name, value] of Object.entries(values))
    if (!/^[A-Za-z0-9_][A-Za-z0-9._-]*$/.test(value))
      throw new Error(`${name} "${value}" cannot be used in a file path`);
  return template.replaceAll('{tenant}', values.tenant).replaceAll('{username}', values.username);
}

export interface KeyFile {
  content: string;
  mode: number;
  uid: number;
  gid: number;
}

/** Reads and atomically replaces authorized_keys files somewhere. */
export interface KeyFileStore {
  /** Null when the file does not exist. */
  read(path: string): Promise<KeyFile | null>;
  /** Replaces the file in one rename: readers (sshd) see the old or the new file, never a partial one. */
  replace(path: string, file: KeyFile): Promise<void>;
  /** Mode and owner for a file that does not exist yet: those of its directory's owner, 0600. */
  defaults(path: string): Promise<Omit<KeyFile, 'content'>>;
}

const tempName = (path: string) =>
  join(dirname(path), `.${basename(path)}.sealwatch-${randomBytes(6).toString('hex')}`);

export const localKeyFileStore: KeyFileStore = {
  async read(path) {
    try {
      const [content, info] = await Promise.all([readFile(path, 'utf8'), stat(path)]);
      return { content, mode: info.mode & 0o7777, uid: info.uid, gid: info.gid };
    } catch (error) {
      if (systemErrorCode(error) === 'ENOENT') return null;
      throw error;
    }
  },
  async replace(path, file) {
    const temp = tempName(path);
    const handle = await open(temp, 'wx', file.mode);
    try {
      await handle.writeFile(file.content, 'utf8');
      // open() applies the umask: set the mode explicitly.
      await handle.chmod(file.mode);
      await handle.sync();
    } finally {
      await handle.close();
    }
    try {
      const me = process.getuid?.();
      if (me === 0 || me !== file.uid) await chown(temp, file.uid, file.gid);
      await rename(temp, path);
    } catch (error) {
      await rm(temp, { force: true });
      throw error;
    }
  },
  async defaults(path) {
    const info = await stat(dirname(path));
    return { mode: 0o600, uid: info.uid, gid: info.gid };
  },
};

const call = <T>(fn: (cb: (error: Error | undefined | null, value: T) => void) => void): Promise<T> =>
  new Promise((resolve, reject) => fn((error, value) => (error ? reject(error) : resolve(value))));

const isMissing = (error: unknown) => (error as { code?: unknown }).code === 2; // SSH_FX_NO_SUCH_FILE

/** The same operations over an SFTP session (OpenSSH's posix-rename extension makes the swap atomic). */
export function sftpKeyFileStore(sftp: SFTPWrapper): KeyFileStore {
  return {
    async read(path) {
      let info: Stats;
      try {
        info = await call<Stats>((cb) => sftp.stat(path, cb));
      } catch (error) {
        if (isMissing(error)) return null;
        throw error;
      }
      const content = await call<Buffer>((cb) => sftp.readFile(path, cb));
      return { content: content.toString('utf8'), mode: info.mode & 0o7777, uid: info.uid, gid: info.gid };
    },
    async replace(path, file) {
      const temp = tempName(path);
      await call<void>((cb) =>
        sftp.writeFile(temp, file.content, { mode: file.mode, flag: 'wx' }, (e) => cb(e, undefined)),
      );
      try {
        await call<void>((cb) =>
          sftp.setstat(temp, { mode: file.mode, uid: file.uid, gid: file.gid }, (e) => cb(e, undefined)),
        );
        await call<void>((cb) => sftp.ext_openssh_rename(temp, path, (e) => cb(e, undefined)));
      } catch (error) {
        // Cleanup of the temporary file before the real error is rethrown.
        await call<void>((cb) => sftp.unlink(temp, (e) => cb(e, undefined))).catch(() => undefined);
        throw error;
      }
    },
    async defaults(path) {
      const info = await call<Stats>((cb) => sftp.stat(dirname(path), cb));
      return { mode: 0o600, uid: info.uid, gid: info.gid };
    },
  };
}

/**
 * Edits one file through `store`: read, change, replace when the text differs. Edits of the same
 * path within this process run one after another, so tenants sharing a file (one login user)
 * never overwrite each other's change.
 */
export function editKeyFile(
  store: KeyFileStore,
  path: string,
  change: (content: string) => string,
  lockKey = path,
): Promise<void> {
  const previous = locks.get(lockKey) ?? Promise.resolve();
  const next = previous.then(async () => {
    const file = await store.read(path);
    const content = file?.content ?? '';
    const changed = change(content);
    if (changed === content) return;
    await store.replace(path, { ...(file ?? (await store.defaults(path))), content: changed });
  });
  // The lock chain only waits for the previous change; `next` carries its error to the caller.
  const settled = next.catch(() => undefined);
  locks.set(lockKey, settled);
  void settled.then(() => {
    if (locks.get(lockKey) === settled) locks.delete(lockKey);
  });
  return next;
}

const locks = new Map<string, Promise<void>>();
