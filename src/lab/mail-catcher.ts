import { appendFileSync, existsSync, readFileSync } from 'node:fs';
import { SMTPServer } from 'smtp-server';

/**
 * The lab's mail catcher: a small SMTP server on loopback that accepts every message (AUTH is
 * optional) and appends it to an inbox as one JSON line, once per Message-ID. `sealwatch lab up`
 * runs it detached (mail-catcher.main.ts is the program); `lab mail` reads it.
 */
export interface CaughtMail {
  received_at: string;
  envelope_from: string | null;
  envelope_to: string[];
  from: string | null;
  to: string | null;
  subject: string | null;
  message_id: string | null;
  date: string | null;
  size: number;
  raw: string;
}

export function parseHeaders(raw: string): Record<string, string> {
  const end = raw.search(/\r?\n\r?\n/);
  const block = (end === -1 ? raw : raw.slice(0, end)).replace(/\r?\n[ \t]+/g, ' ');
  const headers: Record<string, string> = {};
  for (const line of block.split(/\r?\n/)) {
    const i = line.indexOf(':');
    if (i > 0) {
      const name = line.slice(0, i).trim().toLowerCase();
      headers[name] ??= line.slice(i + 1).trim();
    }
  }
  return headers;
}

export function readInbox(file: string): CaughtMail[] {
  if (!existsSync(file)) return [];
  return readFileSync(file, 'utf8')
    .split('\n')
    .filter((l) => l.trim() !== '')
    .map((l) => JSON.parse(l) as CaughtMail);
}

export function runMailCatcher(port: number, inbox: string): Promise<SMTPServer> {
  const seen = new Set(
    readInbox(inbox)
      .map((m) => m.message_id)
      .filter((id): id is string => id !== null),
  );
  const server = new SMTPServer({
    authOptional: true,
    allowInsecureAuth: true,
    disabledCommands: ['STARTTLS'],
    logger: false,
    onAuth: (auth, _session, callback) => callback(null, { user: auth.username ?? 'anonymous' }),
    onData(stream, session, callback) {
      const chunks: Buffer[] = [];
      stream.on('data', (c: Buffer) => chunks.push(c));
      stream.on('end', () => {
        const raw = Buffer.concat(chunks).toString('utf8');
        const h = parseHeaders(raw);
        const messageId = h['message-id'] ?? null;
        // A resent notice carries the same Message-ID: keep the first copy only.
        if (messageId === null || !seen.has(messageId)) {
          if (messageId) seen.add(messageId);
          const mail: CaughtMail = {
            received_at: new Date().toISOString(),
            envelope_from: session.envelope.mailFrom ? session.envelope.mailFrom.address : null,
            envelope_to: session.envelope.rcptTo.map((r) => r.address),
            from: h['from'] ?? null,
            to: h['to'] ?? null,
            subject: h['subject'] ?? null,
            message_id: messageId,
            date: h['date'] ?? null,
            size: raw.length,
            raw,
          };
          appendFileSync(inbox, JSON.stringify(mail) + '\n', { mode: 0o600 });
        }
        callback();
      });
    },
  });
  server.on('error', (error) => process.stderr.write(`mail catcher: ${error.message}\n`));
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => resolve(server));
  });
}
