import { createHash } from 'node:crypto';
import { Client, type ConnectConfig, type SFTPWrapper } from 'ssh2';
import { TargetError } from '../rotation.errors.js';

export interface SshEndpoint {
  host: string;
  port: number;
  user: string;
  /**
   * `SHA256:…` fingerprint of the server's host key (as `ssh-keygen -l` prints it). When given, a
   * server presenting another key is refused before any key is offered.
   */
  hostKey?: string | undefined;
}

export interface SshConnectOptions {
  timeoutMs: number;
  signal?: AbortSignal | undefined;
}

/** Whether the server accepted a key: `refused` is an answer from the server, not a failure to reach it. */
export type LoginOutcome = 'accepted' | 'refused';

/** `SHA256:<base64 without padding>` of a raw host key blob, the form OpenSSH prints. */
export function sshFingerprint(keyBlob: Buffer): string {
  return 'SHA256:' + createHash('sha256').update(keyBlob).digest('base64').replace(/=+$/, '');
}

function where(endpoint: SshEndpoint): string {
  return `${endpoint.user}@${endpoint.host}:${endpoint.port}`;
}

/**
 * Opens an authenticated ssh2 connection. Authentication refusal is reported as `refused`; every
 * other failure (unreachable, timeout, wrong host key) throws a TargetError whose message comes
 * from the transport, which never carries the key.
 */
async function open(
  endpoint: SshEndpoint,
  privateKey: string,
  options: SshConnectOptions,
): Promise<{ outcome: 'accepted'; client: Client } | { outcome: 'refused' }> {
  const client = new Client();
  let hostKeyMismatch: string | undefined;
  const config: ConnectConfig = {
    host: endpoint.host,
    port: endpoint.port,
    username: endpoint.user,
    privateKey,
    readyTimeout: options.timeoutMs,
    // Only the key given: no agent, no password, no keyboard-interactive fallback.
    authHandler: ['publickey'],
    hostVerifier: (key: Buffer) => {
      if (!endpoint.hostKey) return true;
      const seen = sshFingerprint(key);
      if (seen === endpoint.hostKey) return true;
      hostKeyMismatch = seen;
      return false;
    },
  };
  return new Promise((resolve, reject) => {
    const onAbort = () => {
      client.destroy();
      reject(new TargetError(`ssh to ${where(endpoint)} aborted`, { retryable: false }));
    };
    if (options.signal?.aborted) return onAbort();
    options.signal?.addEventListener('abort', onAbort, { once: true });
    const done = () => options.signal?.removeEventListener('abort', onAbort);
    client.once('ready', () => {
      done();
      resolve({ outcome: 'accepted', client });
    });
    client.once('error', (error: Error & { level?: string }) => {
      done();
      client.destroy();
      if (error.level === 'client-authentication') return resolve({ outcome: 'refused' });
      if (hostKeyMismatch)
        return reject(
          new TargetError(
            `ssh to ${where(endpoint)}: host key ${hostKeyMismatch} is not the configured ${endpoint.hostKey}`,
            { retryable: false },
          ),
        );
      reject(new TargetError(`ssh to ${where(endpoint)} failed: ${error.message}`, { cause: error }));
    });
    client.connect(config);
  });
}

/** Logs in with `privateKey` and disconnects: the proof that the server accepts the key. */
export async function trySshLogin(
  endpoint: SshEndpoint,
  privateKey: string,
  options: SshConnectOptions,
): Promise<LoginOutcome> {
  const result = await open(endpoint, privateKey, options);
  if (result.outcome === 'accepted') result.client.end();
  return result.outcome;
}

/** Runs `fn` with an SFTP session on `endpoint`; the connection is closed however `fn` ends. */
export async function withSftp<T>(
  endpoint: SshEndpoint,
  privateKey: string,
  options: SshConnectOptions,
  fn: (sftp: SFTPWrapper) => Promise<T>,
): Promise<T> {
  const result = await open(endpoint, privateKey, options);
  if (result.outcome === 'refused')
    throw new TargetError(`ssh to ${where(endpoint)}: the key was refused`, { retryable: false });
  const { client } = result;
  try {
    const sftp = await new Promise<SFTPWrapper>((resolve, reject) =>
      client.sftp((error, session) => (error ? reject(error) : resolve(session))),
    ).catch((error: Error) => {
      throw new TargetError(`sftp on ${where(endpoint)} failed: ${error.message}`, { cause: error });
    });
    try {
      return await fn(sftp);
    } finally {
      sftp.end();
    }
  } finally {
    client.end();
  }
}
