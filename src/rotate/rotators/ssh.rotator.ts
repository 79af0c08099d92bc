import { readFile } from 'node:fs/promises';
import sshpk from 'sshpk';
import type { SshTarget } from '../../config/rotation.schema.js';
import { describeSystemError, errorMessage } from '../../errors.js';
import { generateSshKeyPair } from '../../secrets/generators.js';
import { RotationError, rotationFailure, TargetError } from '../rotation.errors.js';
import type { RotationInput, Rotator, SecretData, SecretRef } from '../rotator.js';
import {
  authorizedKeysPath,
  editKeyFile,
  hasKey,
  keyIdentity,
  localKeyFileStore,
  sftpKeyFileStore,
  withKey,
  withoutKey,
  type KeyFileStore,
} from './authorized-keys.js';
import { scrubSecrets, secretValuesOf } from './scrub.js';
import { trySshLogin, withSftp, type SshEndpoint } from './ssh-connection.js';

/**
 * SSH keys (`{username, private_key, public_key}`): the new ed25519 public key is added to the
 * tenant's authorized_keys beside the old one, a login with the new private key proves it, and
 * only then is the old line removed. The file is edited here or, with `via`, on the SSH host over
 * SFTP, always replaced whole by a rename so sshd never reads half a file.
 *
 * In `vault-only` mode the hosts read the key from Vault themselves; verification checks that the
 * key pair is consistent (the public key is the private key's).
 */
export interface SshRotatorDeps {
  now?: () => Date;
  /** Per connection (login or SFTP), 10 s by default. */
  timeoutMs?: number;
}

const DEFAULT_TIMEOUT_MS = 10_000;

export function createSshRotator(target: SshTarget, deps: SshRotatorDeps = {}): Rotator {
  const now = deps.now ?? (() => new Date());
  const timeoutMs = deps.timeoutMs ?? DEFAULT_TIMEOUT_MS;

  const fail = rotationFailure('ssh', targetName(target));

  /** A target failure as a RotationError, its text scrubbed of the keys handled (defence in depth). */
  const wrap = (input: RotationInput, phase: string, error: unknown): RotationError => {
    if (error instanceof RotationError) return error;
    const text = error instanceof Error ? error.message : String(error);
    return fail(input.ref, phase, scrubSecrets(text, ...secretValuesOf(input.current, input.next)), {
      retryable: error instanceof TargetError ? error.retryable : true,
    });
  };

  const publicKeyOf = (input: RotationInput, phase: string, data: SecretData, which: 'current' | 'new') => {
    const key = data['public_key'];
    if (!key || keyIdentity(key) === null)
      throw fail(input.ref, phase, `the ${which} value has no usable public_key field`);
    return key;
  };

  const usernameOf = (ref: SecretRef, data: SecretData, phase: string) => {
    const username = data['username'];
    if (!username) throw fail(ref, phase, 'the secret has no username field');
    return username;
  };

  if (target.mode === 'vault-only') {
    return {
      kind: 'ssh',
      targetOf: () => 'vault-only',
      generate: async (ref, current) => rotatedKey(ref, current, now()),
      apply: async () => undefined,
      verify: async (input) => {
        const problem = keyPairProblem(input.next);
        if (problem) throw fail(input.ref, 'verify', problem);
      },
      finalize: async () => undefined,
      rollback: async () => undefined,
    };
  }

  const loginOf = (ref: SecretRef, data: SecretData, phase: string): SshEndpoint => ({
    host: target.login.host,
    port: target.login.port,
    user: target.login.user ?? usernameOf(ref, data, phase),
    hostKey: target.login.host_key,
  });

  /** Runs `change` on the tenant's authorized_keys, locally or on the `via` host. */
  const edit = async (input: RotationInput, phase: string, change: (content: string) => string) => {
    let path: string;
    try {
      path = authorizedKeysPath(target.authorized_keys, {
        tenant: input.ref.tenant,
        username: usernameOf(input.ref, input.current, phase),
      });
    } catch (error) {
      throw error instanceof RotationError ? error : fail(input.ref, phase, errorMessage(error));
    }
    const run = (store: KeyFileStore, lockKey: string) =>
      editKeyFile(store, path, change, lockKey).then(
        () =>
          input.logger.debug({ tenant: input.ref.tenant, phase, file: lockKey }, 'authorized_keys edited'),
        (error: unknown) => {
          throw wrap(
            input,
            phase,
            new TargetError(`editing ${lockKey}: ${describeSystemError(error)}`, { cause: error }),
          );
        },
      );
    const via = target.via;
    if (!via) return run(localKeyFileStore, path);
    let adminKey: string;
    try {
      adminKey = await readFile(via.private_key_file, 'utf8');
    } catch (error) {
      throw fail(
        input.ref,
        phase,
        `the via key ${via.private_key_file} cannot be read: ${describeSystemError(error)}`,
      );
    }
    const endpoint = { host: via.host, port: via.port, user: via.user, hostKey: via.host_key };
    try {
      await withSftp(endpoint, adminKey, { timeoutMs, signal: input.signal }, (sftp) =>
        run(sftpKeyFileStore(sftp), `${via.host}:${via.port}:${path}`),
      );
    } catch (error) {
      throw wrap(input, phase, error);
    }
  };

  const login = async (input: RotationInput, phase: string, data: SecretData, which: 'current' | 'new') => {
    const privateKey = data['private_key'];
    if (!privateKey) throw fail(input.ref, phase, `the ${which} value has no private_key field`);
    const endpoint = loginOf(input.ref, data, phase);
    try {
      return {
        endpoint,
        outcome: await trySshLogin(endpoint, privateKey, { timeoutMs, signal: input.signal }),
      };
    } catch (error) {
      throw wrap(input, phase, error);
    }
  };

  return {
    kind: 'ssh',
    targetOf: () => `ssh:${target.login.host}:${target.login.port}`,
    generate: async (ref, current) => rotatedKey(ref, current, now()),
    apply: async (input) => {
      const next = publicKeyOf(input, 'apply', input.next, 'new');
      await edit(input, 'apply', (content) => withKey(content, next));
    },
    verify: async (input) => {
      const { endpoint, outcome } = await login(input, 'verify', input.next, 'new');
      if (outcome !== 'accepted')
        throw fail(
          input.ref,
          'verify',
          // The user goes in details: it may be the secret's username field, and messages carry none of a secret's values.
          `login with the new key at ${endpoint.host}:${endpoint.port} was refused`,
          { retryable: true, details: { user: endpoint.user } },
        );
    },
    finalize: async (input) => {
      const old = publicKeyOf(input, 'finalize', input.current, 'current');
      const next = publicKeyOf(input, 'finalize', input.next, 'new');
      // Same key in both versions (a re-run after the value was made current): nothing to retire.
      if (keyIdentity(old) === keyIdentity(next)) return;
      await edit(input, 'finalize', (content) => {
        // Never leave the tenant locked out: the old key goes only once the new one is in place.
        if (!hasKey(content, next))
          throw new TargetError('the new key is not in the file; the old key is kept', { retryable: false });
        return withoutKey(content, old);
      });
    },
    rollback: async (input) => {
      const old = input.current['public_key'];
      const next = publicKeyOf(input, 'rollback', input.next, 'new');
      if (old && keyIdentity(old) === keyIdentity(next)) return;
      await edit(input, 'rollback', (content) => withoutKey(content, next));
    },
    verifyOldRefused: async (input) => {
      const { endpoint, outcome } = await login(input, 'verify-old-refused', input.current, 'current');
      if (outcome !== 'refused')
        throw fail(
          input.ref,
          'verify-old-refused',
          `the old key still logs in at ${endpoint.host}:${endpoint.port}`,
          { details: { user: endpoint.user } },
        );
    },
  };
}

function targetName(target: SshTarget): string {
  return target.mode === 'vault-only' ? 'vault-only' : `ssh:${target.login.host}:${target.login.port}`;
}

/** A fresh ed25519 pair; every other field (username, host, …) is kept. */
function rotatedKey(ref: SecretRef, current: SecretData, date: Date): SecretData {
  const pair = generateSshKeyPair(`${ref.tenant}@sealwatch-${date.toISOString().slice(0, 10)}`);
  const next: SecretData = { ...current, private_key: pair.privateKey, public_key: pair.publicKey };
  if ('fingerprint' in current) next['fingerprint'] = pair.fingerprint;
  return next;
}

/** Why the pair in `data` is unusable, or null: the public key must be the one derived from the private key. */
export function keyPairProblem(data: SecretData): string | null {
  const privateKey = data['private_key'];
  const publicKey = data['public_key'];
  if (!privateKey || !publicKey) return 'the value lacks private_key or public_key';
  let derived: string;
  try {
    derived = sshpk.parsePrivateKey(privateKey, 'auto').toPublic().toString('ssh');
  } catch {
    // The parser's message may quote the input: say only that it failed.
    return 'private_key is not a key OpenSSH can read';
  }
  if (keyIdentity(derived) !== keyIdentity(publicKey))
    return 'public_key is not the public half of private_key';
  return null;
}
