import { spawn } from 'node:child_process';
import { createHmac } from 'node:crypto';
import { createTransport } from 'nodemailer';
import { readCredential } from '../../config/credential.js';
import type { SmtpTarget } from '../../config/rotation.schema.js';
import { randomPassword } from '../../secrets/generators.js';
import { rotationFailure } from '../rotation.errors.js';
import type { RotationInput, Rotator, SecretData, SecretRef } from '../rotator.js';
import { scrubSecrets, secretValuesOf, tail } from './scrub.js';

/**
 * SMTP credentials (`{host, port, username, password}`): the mail platform's credential service
 * learns the new password through a signed webhook or a local command, and verification logs in
 * with it (SMTP AUTH) on the configured server.
 *
 * The protocol a webhook or command speaks is the same, one JSON object per call:
 *   apply    {tenant, username, password: <new>, action, timestamp}  accept <new> as well as the old
 *   finalize {tenant, username, password: <new>, action, timestamp}  accept only <new>
 *   rollback {tenant, username, password: <current>, action, timestamp} accept only <current>
 * finalize and rollback name the password to keep rather than the one to drop, so that each call is
 * idempotent and a receiver that missed `apply` still ends in the right state. `timestamp` (Unix
 * seconds) is inside the signed body so that a receiver can refuse a replayed request: replaying
 * an old `rollback` would otherwise bring back a retired password.
 *
 * In `vault-only` mode the mail service reads Vault itself, so there is nothing to tell it, and
 * nothing to verify before the engine makes the new value current; `verifyOldRefused` still checks
 * the old password is refused once it is.
 */
export interface SmtpRotatorDeps {
  /** Where `signing_key: {env}` is looked up (process.env by default). */
  env?: Readonly<Record<string, string | undefined>>;
}

export type SmtpAction = 'apply' | 'finalize' | 'rollback';

/** What a webhook receives and a command reads on standard input. */
export interface SmtpCredentialChange {
  tenant: string;
  username: string;
  password: string;
  action: SmtpAction;
  timestamp: number;
}

export const SIGNATURE_HEADER = 'x-sealwatch-signature';

/** `sha256=<hex HMAC-SHA256 of the exact body bytes>`, what receivers recompute and compare. */
export function signBody(key: string, body: string): string {
  return 'sha256=' + createHmac('sha256', key).update(body).digest('hex');
}

const DEFAULT_PASSWORD_LENGTH = 32;
const VERIFY_TIMEOUT_MS = 15_000;

export function createSmtpRotator(target: SmtpTarget, deps: SmtpRotatorDeps = {}): Rotator {
  const failure = rotationFailure('smtp', describeTarget(target));
  const fail = (ref: SecretRef, phase: string, reason: string, retryable = false, code?: string) =>
    failure(ref, phase, reason, { retryable, ...(code ? { details: { code } } : {}) });

  const usernameOf = (ref: SecretRef, data: SecretData, phase: string): string => {
    const username = data['username'];
    if (!username) throw fail(ref, phase, `the secret at ${ref.path} has no username field`);
    return username;
  };

  /** Tells the credential service about one change, through whichever channel the target uses. */
  const notify = async (input: RotationInput, action: SmtpAction, password: string): Promise<void> => {
    if (target.mode === 'vault-only') return;
    const change: SmtpCredentialChange = {
      tenant: input.ref.tenant,
      username: usernameOf(input.ref, input.current, action),
      password,
      action,
      timestamp: Math.floor(Date.now() / 1000),
    };
    const secrets = secretValuesOf(input.current, input.next);
    if (target.mode === 'webhook') await postWebhook(target, change, input, secrets);
    else await runCommand(target, change, input, secrets);
    input.logger.debug({ action, target: describeTarget(target) }, 'smtp credential service updated');
  };

  const postWebhook = async (
    t: Extract<SmtpTarget, { mode: 'webhook' }>,
    change: SmtpCredentialChange,
    input: RotationInput,
    secrets: string[],
  ): Promise<void> => {
    const url = new URL(t.url);
    const body = JSON.stringify(change);
    const headers: Record<string, string> = { 'content-type': 'application/json' };
    if (t.signing_key)
      headers[SIGNATURE_HEADER] = signBody(
        readCredential(t.signing_key, 'smtp webhook signing key', deps.env),
        body,
      );
    let response: Response;
    try {
      response = await fetch(url, {
        method: 'POST',
        headers,
        body,
        signal: AbortSignal.any([input.signal, AbortSignal.timeout(t.timeout_ms)]),
      });
    } catch (error) {
      const reason =
        error instanceof Error && error.name === 'TimeoutError'
          ? `no answer within ${t.timeout_ms} ms`
          : networkReason(error);
      throw fail(input.ref, change.action, `webhook ${url.host} unreachable: ${reason}`, true);
    }
    if (response.ok) {
      await response.body?.cancel();
      return;
    }
    // The body only adds detail to the status reported below.
    const text = scrubSecrets(tail(await response.text().catch(() => ''), 200), ...secrets);
    throw fail(
      input.ref,
      change.action,
      `webhook ${url.host} answered ${response.status}${text ? `: ${text}` : ''}`,
      response.status >= 500 || response.status === 429,
      `http_${response.status}`,
    );
  };

  const runCommand = (
    t: Extract<SmtpTarget, { mode: 'command' }>,
    change: SmtpCredentialChange,
    input: RotationInput,
    secrets: string[],
  ): Promise<void> =>
    new Promise((resolve, reject) => {
      const [file, ...args] = t.command as [string, ...string[]];
      const child = spawn(file, args, {
        stdio: ['pipe', 'ignore', 'pipe'],
        timeout: t.timeout_ms,
        killSignal: 'SIGKILL',
        signal: input.signal,
      });
      let stderr = '';
      child.stderr.setEncoding('utf8');
      child.stderr.on('data', (chunk: string) => {
        // Only the tail is ever reported: keep memory bounded whatever the command prints.
        stderr = (stderr + chunk).slice(-4096);
      });
      // A command that exits without reading its input makes the write fail with EPIPE; its exit
      // status is what tells whether it worked.
      child.stdin.on('error', () => undefined);
      child.stdin.end(JSON.stringify(change) + '\n');
      child.on('error', (error: NodeJS.ErrnoException) =>
        reject(fail(input.ref, change.action, `command ${file} could not run: ${error.code ?? error.name}`)),
      );
      child.on('close', (code, signal) => {
        if (code === 0) return resolve();
        const how = signal
          ? signal === 'SIGKILL'
            ? `was killed (timeout ${t.timeout_ms} ms)`
            : `was killed by ${signal}`
          : `exited with ${code}`;
        const said = scrubSecrets(tail(stderr), ...secrets);
        reject(
          fail(
            input.ref,
            change.action,
            `command ${file} ${how}${said ? `: ${said}` : ''}`,
            false,
            'command',
          ),
        );
      });
    });

  /** SMTP AUTH with `password`: resolves true when accepted, false when refused (535 and the like). */
  const login = async (
    ref: SecretRef,
    phase: string,
    username: string,
    password: string,
  ): Promise<boolean> => {
    const endpoint = target.verify;
    if (!endpoint) return true;
    const tls = endpoint.tls ?? 'starttls';
    const transport = createTransport({
      host: endpoint.host,
      port: endpoint.port,
      secure: tls === 'implicit',
      requireTLS: tls === 'starttls',
      ignoreTLS: tls === 'none',
      auth: { user: username, pass: password },
      connectionTimeout: VERIFY_TIMEOUT_MS,
      greetingTimeout: VERIFY_TIMEOUT_MS,
      socketTimeout: VERIFY_TIMEOUT_MS,
      logger: false,
      debug: false,
    });
    try {
      await transport.verify();
      return true;
    } catch (error) {
      const e = error as { code?: string; responseCode?: number; message?: string };
      if (e.code === 'EAUTH') return false;
      const where = `${endpoint.host}:${endpoint.port}`;
      const why = scrubSecrets(e.message ?? String(error), password);
      throw fail(
        ref,
        phase,
        `SMTP server ${where} could not be asked (${e.code ?? 'error'}): ${why}`,
        true,
        e.code,
      );
    } finally {
      transport.close();
    }
  };

  const where = () => (target.verify ? `${target.verify.host}:${target.verify.port}` : '');

  return {
    kind: 'smtp',

    targetOf: () => describeTarget(target),

    async generate(_ref, current) {
      return { ...current, password: randomPassword(target.password_length ?? DEFAULT_PASSWORD_LENGTH) };
    },

    async apply(input) {
      await notify(input, 'apply', requirePassword(input.ref, input.next, 'apply'));
    },

    async verify(input) {
      if (target.mode === 'vault-only') return;
      const username = usernameOf(input.ref, input.next, 'verify');
      if (!target.verify) {
        // Nothing to log in to: the credential service's 2xx / exit 0 is all the evidence there is.
        input.logger.warn(
          { target: describeTarget(target) },
          'smtp target has no verify server: new password not tried',
        );
        return;
      }
      const accepted = await login(
        input.ref,
        'verify',
        username,
        requirePassword(input.ref, input.next, 'verify'),
      );
      if (!accepted)
        throw fail(input.ref, 'verify', `SMTP AUTH with the new password was refused by ${where()}`);
    },

    async finalize(input) {
      await notify(input, 'finalize', requirePassword(input.ref, input.next, 'finalize'));
    },

    async rollback(input) {
      await notify(input, 'rollback', requirePassword(input.ref, input.current, 'rollback'));
    },

    async verifyOldRefused(input) {
      // Also in vault-only mode: this runs after the engine made the new value current, which is
      // when a mail service that reads Vault itself stops accepting the old one.
      if (!target.verify) return;
      const username = usernameOf(input.ref, input.current, 'verify-old-refused');
      const accepted = await login(
        input.ref,
        'verify-old-refused',
        username,
        requirePassword(input.ref, input.current, 'verify-old-refused'),
      );
      if (accepted) throw fail(input.ref, 'verify-old-refused', `${where()} still accepts the old password`);
    },
  };

  function requirePassword(ref: SecretRef, data: SecretData, phase: string): string {
    const password = data['password'];
    if (!password) throw fail(ref, phase, `the secret at ${ref.path} has no password field`);
    return password;
  }
}

/** The target's name for per-target concurrency and messages; never holds a credential. */
function describeTarget(target: SmtpTarget): string {
  if (target.mode === 'webhook') return `webhook:${new URL(target.url).host}`;
  if (target.verify) return `smtp:${target.verify.host}:${target.verify.port}`;
  return target.mode === 'command' ? `command:${target.command[0]}` : 'vault-only';
}

function networkReason(error: unknown): string {
  // fetch wraps the socket error: the code (ECONNREFUSED, ENOTFOUND) is on the cause.
  const cause = error instanceof Error ? (error.cause as { code?: string } | undefined) : undefined;
  if (cause?.code) return cause.code;
  return error instanceof Error ? error.message : String(error);
}
