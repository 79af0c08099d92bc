import { createHash, createHmac, pbkdf2, randomBytes } from 'node:crypto';
import { promisify } from 'node:util';
import pg from 'pg';
import { readCredential } from '../../config/credential.js';
import type { PostgresTarget } from '../../config/rotation.schema.js';
import { ConfigError } from '../../errors.js';
import { randomPassword } from '../../secrets/generators.js';
import type { VaultClient } from '../../vault/client.js';
import { RotationError, rotationFailure } from '../rotation.errors.js';
import type { RotationInput, Rotator, SecretData, SecretRef } from '../rotator.js';
import { scrubSecrets, secretValuesOf } from './scrub.js';

const pbkdf2Async = promisify(pbkdf2);

/**
 * Database credentials (`{host, port, database, username, password}`) of a PostgreSQL role.
 *
 * `alter-role`: PostgreSQL keeps ONE password per role, so there is no overlap in which both work:
 * `apply` replaces the password at once, new logins with the old one fail from that moment (open
 * sessions stay), until the engine makes the new value current in Vault and clients read it.
 * `rollback` therefore sets the old password again rather than forgetting the new one, and
 * `finalize` has nothing left to do on the server. The password is sent as a SCRAM-SHA-256 verifier
 * computed here, as psql's \password does, so the clear value never reaches the server's statement
 * log or pg_stat_statements.
 *
 * `vault-database`: the Vault database secrets engine owns the role as a static role and chooses
 * its passwords; there is no API to give it one. So `generate` asks the engine to rotate
 * (`<mount>/rotate-role/<role>`) and returns what `<mount>/static-creds/<role>` then holds: calling
 * it again after a crash just rotates once more. The password changes in the database during
 * `generate`, `apply` has nothing to do, and `rollback` cannot bring the old password back (it
 * fails and says so: the engine's current password is the one that works).
 *
 * `vault-only`: a new random password and nothing to tell anyone.
 */
export interface PostgresRotatorDeps {
  /** Where `admin_url: {env}` is looked up (process.env by default). */
  env?: Readonly<Record<string, string | undefined>>;
  /** Needed in `vault-database` mode only: the client that reaches the database secrets engine. */
  vault?: Pick<VaultClient, 'read' | 'write'>;
}

const DEFAULT_PASSWORD_LENGTH = 32;
const CONNECT_TIMEOUT_MS = 10_000;
/** PostgreSQL's own default for scram_iterations. */
const SCRAM_ITERATIONS = 4096;
const STATIC_ROLE_NAME = /^\w([\w.-]*\w)?$/;

export function createPostgresRotator(target: PostgresTarget, deps: PostgresRotatorDeps = {}): Rotator {
  const targetName = target.mode === 'vault-only' ? 'vault-only' : `postgres:${target.host}:${target.port}`;
  const vault = deps.vault;
  if (target.mode === 'vault-database' && !vault)
    throw new ConfigError('postgres rotation in vault-database mode needs a Vault client');

  const failure = rotationFailure('postgres', targetName);
  const fail = (ref: SecretRef, phase: string, reason: string, retryable = false, code?: string) =>
    failure(ref, phase, reason, { retryable, ...(code ? { details: { code } } : {}) });

  const field = (ref: SecretRef, data: SecretData, name: string, phase: string): string => {
    const value = data[name];
    if (!value) throw fail(ref, phase, `the secret at ${ref.path} has no ${name} field`);
    return value;
  };

  /** A pg error as a message part: its code and its text with every secret value cut out. */
  const describe = (
    error: unknown,
    secrets: ReadonlyArray<string | undefined>,
  ): { code: string; text: string } => {
    const e = error as { code?: string; message?: string };
    const code = e.code ?? 'error';
    return { code, text: scrubSecrets(e.message ?? String(error), ...secrets) };
  };

  /**
   * Worth retrying: the network (ECONNREFUSED, a timeout without a code), a connection exception
   * (SQLSTATE 08xxx) or a server starting or shutting down (57xxx). A refused login, a missing
   * database or role is not.
   */
  const isConnectionFailure = (code: string) =>
    !/^[0-9A-Z]{5}$/.test(code) || code.startsWith('08') || code.startsWith('57');

  /**
   * Logs in as the secret's role: true when accepted, false when the password is refused (28P01),
   * a RotationError naming host:port for anything else (server down, database missing).
   */
  const login = async (
    ref: SecretRef,
    phase: string,
    data: SecretData,
    password: string,
  ): Promise<boolean> => {
    if (target.mode === 'vault-only') return true;
    const client = new pg.Client({
      host: target.host,
      port: target.port,
      database: data['database'] || target.database,
      user: field(ref, data, 'username', phase),
      password,
      connectionTimeoutMillis: CONNECT_TIMEOUT_MS,
    });
    // A failed connection also emits 'error'; without a listener that would crash the process.
    client.on('error', () => undefined);
    try {
      await client.connect();
      await client.query('SELECT 1');
      return true;
    } catch (error) {
      const { code, text } = describe(error, [password]);
      if (code === '28P01') return false;
      throw fail(
        ref,
        phase,
        `cannot log in to PostgreSQL at ${target.host}:${target.port} (${code}): ${text}`,
        isConnectionFailure(code),
        code,
      );
    } finally {
      // Closing after the outcome is known; a failed close changes nothing about it.
      await client.end().catch(() => undefined);
    }
  };

  /** Sets the role's password through the admin connection (alter-role mode). */
  const setPassword = async (input: RotationInput, phase: string, password: string): Promise<void> => {
    if (target.mode !== 'alter-role') return;
    const { ref } = input;
    const role = field(ref, input.current, 'username', phase);
    const secrets = secretValuesOf(input.current, input.next);
    const adminUrl = readCredential(target.admin_url, 'postgres admin_url', deps.env);
    const client = new pg.Client({ connectionString: adminUrl, connectionTimeoutMillis: CONNECT_TIMEOUT_MS });
    client.on('error', () => undefined);
    // The admin URL's own password is a secret too: nothing the driver says may carry it.
    const adminSecrets = [...secrets, adminPassword(adminUrl)];
    try {
      try {
        await client.connect();
      } catch (error) {
        const { code, text } = describe(error, adminSecrets);
        throw fail(
          ref,
          phase,
          `cannot connect as admin to PostgreSQL at ${adminHost(adminUrl)} (${code}): ${text}`,
          isConnectionFailure(code),
          code,
        );
      }
      const exists = await client.query('SELECT 1 FROM pg_roles WHERE rolname = $1', [role]);
      if (exists.rowCount === 0)
        throw fail(ref, phase, `role ${role} does not exist on ${adminHost(adminUrl)}`);
      const verifier = await scramVerifier(password);
      // Never logged, and built only from escaped parts: the identifier and the literal are quoted
      // by pg's escapers (ALTER ROLE takes no bind parameters).
      await client.query(
        `ALTER ROLE ${client.escapeIdentifier(role)} PASSWORD ${client.escapeLiteral(verifier)}`,
      );
      input.logger.debug({ target: targetName, phase }, 'postgres role password set');
    } catch (error) {
      if (error instanceof RotationError) throw error;
      const { code, text } = describe(error, adminSecrets);
      throw fail(ref, phase, `ALTER ROLE on ${adminHost(adminUrl)} failed (${code}): ${text}`, false, code);
    } finally {
      // Closing after the outcome is known; a failed close changes nothing about it.
      await client.end().catch(() => undefined);
    }
  };

  const staticRoleOf = (ref: SecretRef): string => {
    if (target.mode !== 'vault-database') throw new Error('not in vault-database mode');
    const role = target.static_role.replaceAll('{tenant}', ref.tenant);
    if (!STATIC_ROLE_NAME.test(role))
      throw fail(ref, 'generate', `static role name ${JSON.stringify(role)} is not a valid role name`);
    return role;
  };

  /** Rotates the static role in the database secrets engine and reads back the password it chose. */
  const rotateStaticRole = async (ref: SecretRef, current: SecretData): Promise<SecretData> => {
    if (target.mode !== 'vault-database' || !vault) throw new Error('not in vault-database mode');
    const role = staticRoleOf(ref);
    const mount = target.mount.replace(/^\/+|\/+$/g, '');
    let step = `${mount}/rotate-role/${role}`;
    try {
      await vault.write(step, {});
      step = `${mount}/static-creds/${role}`;
      const creds = await vault.read<{ username?: string; password?: string }>(step);
      const password = creds.data.password;
      if (!password) throw fail(ref, 'generate', `${step} returned no password`);
      return { ...current, username: creds.data.username ?? current['username'] ?? '', password };
    } catch (error) {
      if (error instanceof RotationError) throw error;
      const { text } = describe(error, secretValuesOf(current));
      const retryable = (error as { retryable?: boolean }).retryable ?? false;
      throw fail(ref, 'generate', `${step} failed: ${text}`, retryable);
    }
  };

  return {
    kind: 'postgres',

    targetOf: () => targetName,

    async generate(ref, current) {
      if (target.mode === 'vault-database') return rotateStaticRole(ref, current);
      return { ...current, password: randomPassword(target.password_length ?? DEFAULT_PASSWORD_LENGTH) };
    },

    async apply(input) {
      await setPassword(input, 'apply', field(input.ref, input.next, 'password', 'apply'));
    },

    async verify(input) {
      if (target.mode === 'vault-only') return;
      const accepted = await login(
        input.ref,
        'verify',
        input.next,
        field(input.ref, input.next, 'password', 'verify'),
      );
      if (!accepted)
        throw fail(input.ref, 'verify', 'login with the new password was refused (28P01)', false, '28P01');
    },

    async finalize() {
      // alter-role: the server already forgot the old password at apply (one password per role).
      // vault-database: the engine did at generate.
    },

    async rollback(input) {
      if (target.mode === 'vault-database')
        throw fail(
          input.ref,
          'rollback',
          `the database secrets engine cannot restore a previous password: the role keeps the one in ` +
            `${target.mount}/static-creds/${staticRoleOf(input.ref)}`,
        );
      await setPassword(input, 'rollback', field(input.ref, input.current, 'password', 'rollback'));
    },

    async verifyOldRefused(input) {
      if (target.mode === 'vault-only') return;
      const accepted = await login(
        input.ref,
        'verify-old-refused',
        input.current,
        field(input.ref, input.current, 'password', 'verify-old-refused'),
      );
      if (accepted) throw fail(input.ref, 'verify-old-refused', 'the old password still logs in');
    },
  };
}

/**
 * The `SCRAM-SHA-256$<iterations>:<salt>$<StoredKey>:<ServerKey>` verifier PostgreSQL stores
 * (RFC 5802, RFC 7677). PostgreSQL SASLprep-normalises passwords first; that is the identity for
 * printable ASCII, so other passwords are sent as they are and hashed by the server instead.
 */
export async function scramVerifier(password: string, iterations = SCRAM_ITERATIONS): Promise<string> {
  if (!/^[\x20-\x7e]*$/.test(password)) return password;
  const salt = randomBytes(16);
  const salted = await pbkdf2Async(password, salt, iterations, 32, 'sha256');
  const clientKey = createHmac('sha256', salted).update('Client Key').digest();
  const storedKey = createHash('sha256').update(clientKey).digest();
  const serverKey = createHmac('sha256', salted).update('Server Key').digest();
  return `SCRAM-SHA-256$${iterations}:${salt.toString('base64')}$${storedKey.toString('base64')}:${serverKey.toString('base64')}`;
}

function adminPassword(url: string): string | undefined {
  try {
    return decodeURIComponent(new URL(url).password) || undefined;
  } catch {
    // admin_url was validated with the configuration; a URL without a password has none to hide.
    return undefined;
  }
}

/** host:port of the admin URL, for messages (the URL itself carries a password). */
function adminHost(url: string): string {
  try {
    const u = new URL(url);
    return `${u.hostname}:${u.port || '5432'}`;
  } catch {
    // Only for messages; admin_url was validated with the configuration.
    return 'the admin_url host';
  }
}
