import { createHmac, timingSafeEqual } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import { createTransport } from 'nodemailer';
import { SMTPServer } from 'smtp-server';
import { freePort } from '../../src/util/ports.js';

/**
 * A real SMTP server in the test process (the `smtp-server` package) on a free loopback port:
 * AUTH PLAIN/LOGIN against a credential table the test controls, every accepted message kept in
 * memory (the lab's mail catcher). STARTTLS is not offered and AUTH is allowed without TLS: it
 * listens on 127.0.0.1 only, and clients are configured with `tls: 'none'` for it.
 */
export interface ReceivedMessage {
  from: string | undefined;
  to: string[];
  /** The user that authenticated the session, if any. */
  user: string | undefined;
  /** The message as received (headers and body). */
  raw: string;
}

export interface TestSmtpServer {
  host: string;
  port: number;
  /** Replaces the passwords a user may log in with. */
  setPasswords(username: string, passwords: readonly string[]): void;
  addPassword(username: string, password: string): void;
  passwordsOf(username: string): string[];
  /** Does this server accept SMTP AUTH with these credentials now? (A real AUTH over TCP.) */
  canLogin(username: string, password: string): Promise<boolean>;
  messages(): ReceivedMessage[];
  close(): Promise<void>;
}

export interface SmtpServerOptions {
  /** Accept mail without AUTH (a catcher for notices); AUTH still works when offered. */
  authOptional?: boolean;
  /**
   * Read credentials from this JSON file (`{"user": ["pw", …]}`) on every AUTH instead of the
   * in-memory table, so a separate process (a credential command) can change them.
   */
  credentialsFile?: string;
}

export async function startSmtpServer(options: SmtpServerOptions = {}): Promise<TestSmtpServer> {
  const table = new Map<string, Set<string>>();
  const received: ReceivedMessage[] = [];
  const host = '127.0.0.1';
  const port = await freePort();

  const passwordsOf = (username: string): string[] => {
    if (options.credentialsFile) {
      const all = readCredentialsFile(options.credentialsFile);
      return all[username] ?? [];
    }
    return [...(table.get(username) ?? [])];
  };

  const server = new SMTPServer({
    authMethods: ['PLAIN', 'LOGIN'],
    allowInsecureAuth: true,
    disabledCommands: ['STARTTLS'],
    authOptional: options.authOptional ?? false,
    logger: false,
    onAuth(auth, _session, callback) {
      const ok =
        auth.username !== undefined &&
        typeof auth.password === 'string' &&
        passwordsOf(auth.username).includes(auth.password);
      if (ok) callback(null, { user: auth.username });
      else callback(Object.assign(new Error('Invalid username or password'), { responseCode: 535 }));
    },
    onData(stream, session, callback) {
      const chunks: Buffer[] = [];
      stream.on('data', (chunk: Buffer) => chunks.push(chunk));
      stream.on('end', () => {
        received.push({
          from: session.envelope.mailFrom ? session.envelope.mailFrom.address : undefined,
          to: session.envelope.rcptTo.map((r) => r.address),
          user: typeof session.user === 'string' ? session.user : undefined,
          raw: Buffer.concat(chunks).toString('utf8'),
        });
        callback();
      });
    },
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  // Errors after start (a client hanging up mid-command) must not crash the test process.
  server.on('error', () => undefined);

  return {
    host,
    port,
    setPasswords: (username, passwords) => void table.set(username, new Set(passwords)),
    addPassword: (username, password) => {
      const set = table.get(username) ?? new Set<string>();
      set.add(password);
      table.set(username, set);
    },
    passwordsOf,
    canLogin: (username, password) => smtpLogin(host, port, username, password),
    messages: () => [...received],
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

/** A real SMTP AUTH attempt: true when accepted, false when refused, throws when unreachable. */
export async function smtpLogin(host: string, port: number, user: string, pass: string): Promise<boolean> {
  const transport = createTransport({ host, port, ignoreTLS: true, auth: { user, pass }, logger: false });
  try {
    await transport.verify();
    return true;
  } catch (error) {
    if ((error as { code?: string }).code === 'EAUTH') return false;
    throw error;
  } finally {
    transport.close();
  }
}

export function readCredentialsFile(file: string): Record<string, string[]> {
  try {
    return JSON.parse(readFileSync(file, 'utf8')) as Record<string, string[]>;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return {};
    throw error;
  }
}

/**
 * The mail platform's credential service, as sealwatch's `webhook` SMTP target sees it: checks the
 * X-Sealwatch-Signature HMAC and the timestamp, then changes the SMTP server's credential table
 * (apply adds the password; finalize and rollback keep only the password named).
 */
export interface CredentialWebhook {
  url: string;
  /** Requests seen, without their passwords. */
  requests(): Array<{ action: string; tenant: string; username: string; status: number }>;
  close(): Promise<void>;
}

const MAX_SKEW_SECONDS = 300;

export async function startCredentialWebhook(
  smtp: Pick<TestSmtpServer, 'addPassword' | 'setPasswords'>,
  signingKey: string,
): Promise<CredentialWebhook> {
  const seen: Array<{ action: string; tenant: string; username: string; status: number }> = [];
  const server: Server = createServer((req, res) => {
    void handle(req).then(
      ({ status, info }) => {
        if (info) seen.push({ ...info, status });
        res
          .writeHead(status, { 'content-type': 'text/plain' })
          .end(status === 204 ? undefined : statusText(status));
      },
      () => res.writeHead(500).end('internal error'),
    );
  });

  async function handle(
    req: IncomingMessage,
  ): Promise<{ status: number; info?: { action: string; tenant: string; username: string } }> {
    if (req.method !== 'POST') return { status: 405 };
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const body = Buffer.concat(chunks);
    const header = req.headers['x-sealwatch-signature'];
    const expected = Buffer.from('sha256=' + createHmac('sha256', signingKey).update(body).digest('hex'));
    const given = Buffer.from(typeof header === 'string' ? header : '');
    if (given.length !== expected.length || !timingSafeEqual(given, expected)) return { status: 401 };
    let change: {
      tenant?: unknown;
      username?: unknown;
      password?: unknown;
      action?: unknown;
      timestamp?: unknown;
    };
    try {
      change = JSON.parse(body.toString('utf8')) as typeof change;
    } catch {
      return { status: 400 };
    }
    const { tenant, username, password, action, timestamp } = change;
    if (
      typeof tenant !== 'string' ||
      typeof username !== 'string' ||
      typeof password !== 'string' ||
      typeof action !== 'string' ||
      typeof timestamp !== 'number'
    )
      return { status: 400 };
    const info = { action, tenant, username };
    if (Math.abs(Date.now() / 1000 - timestamp) > MAX_SKEW_SECONDS) return { status: 408, info };
    if (action === 'apply') smtp.addPassword(username, password);
    else if (action === 'finalize' || action === 'rollback') smtp.setPasswords(username, [password]);
    else return { status: 400, info };
    return { status: 204, info };
  }

  const port = await freePort();
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => resolve());
  });
  return {
    url: `http://127.0.0.1:${port}/credentials`,
    requests: () => [...seen],
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

function statusText(status: number): string {
  return (
    { 400: 'bad request', 401: 'bad signature', 405: 'method not allowed', 408: 'stale request' }[status] ??
    'error'
  );
}
