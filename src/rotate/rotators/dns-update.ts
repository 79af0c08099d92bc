import { createHmac, randomInt, timingSafeEqual } from 'node:crypto';
import { connect } from 'node:net';
import dnsPacket, { type Answer } from 'dns-packet';
import { errorMessage } from '../../errors.js';

/**
 * RFC 2136 dynamic updates signed with TSIG (RFC 8945), over TCP. dns-packet encodes the message;
 * TSIG is done here because no maintained npm package signs DNS messages: it is one HMAC over the
 * message and a few fixed fields, and the response's signature is checked the same way, so a
 * forged "NOERROR" cannot make a rotation believe its record was published.
 */

export type TsigAlgorithm = 'hmac-sha256' | 'hmac-sha512';

export interface TsigKey {
  name: string;
  algorithm: TsigAlgorithm;
  /** The raw key (the base64 of BIND's `secret "…"` decoded). */
  secret: Buffer;
}

/** One change of an update message, in the order the server applies them. */
export type UpdateChange =
  | { op: 'add'; name: string; ttl: number; txt: string[] }
  /** Deletes every TXT record at `name` (nothing to delete is not an error). */
  | { op: 'delete-txt'; name: string };

/** A condition the server checks before applying any change (RFC 2136 §2.4). */
export type UpdatePrerequisite = { op: 'txt-exists'; name: string };

export interface DnsUpdateRequest {
  server: { host: string; port: number };
  zone: string;
  key: TsigKey;
  prerequisites?: UpdatePrerequisite[];
  changes: UpdateChange[];
  timeoutMs?: number;
  signal?: AbortSignal;
  /** Seconds since the epoch; the clock is injectable for tests. */
  now?: () => number;
}

const RCODES: Record<number, string> = {
  0: 'NOERROR',
  1: 'FORMERR',
  2: 'SERVFAIL',
  3: 'NXDOMAIN',
  4: 'NOTIMP',
  5: 'REFUSED',
  6: 'YXDOMAIN',
  7: 'YXRRSET',
  8: 'NXRRSET',
  9: 'NOTAUTH',
  10: 'NOTZONE',
};
const TSIG_ERRORS: Record<number, string> = { 16: 'BADSIG', 17: 'BADKEY', 18: 'BADTIME', 22: 'BADTRUNC' };

export const rcodeName = (code: number) => RCODES[code] ?? `RCODE${code}`;
const tsigErrorName = (code: number) => TSIG_ERRORS[code] ?? `TSIG error ${code}`;

/** The server answered, and not with success; `rcode` is what it said (REFUSED, NOTAUTH, …). */
export class DnsUpdateRefused extends Error {
  constructor(
    readonly rcode: string,
    readonly tsigError: string | undefined,
  ) {
    super(`the server answered ${rcode}${tsigError ? ` (TSIG ${tsigError})` : ''}`);
    this.name = 'DnsUpdateRefused';
  }
}

/** No trustworthy answer: the server was unreachable, timed out, or its answer was malformed or unsigned. */
export class DnsUpdateFailed extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'DnsUpdateFailed';
  }
}

const TYPE_TSIG = 250;
const CLASS_ANY = 255;
const OPCODE_UPDATE = 5;
const FUDGE_SECONDS = 300;

/**
 * Splits a TXT value into character-strings of at most 255 bytes each (RFC 1035 §3.3.14): a
 * 2048-bit DKIM key does not fit in one. Readers concatenate them without separator.
 */
export function splitTxt(value: string, max = 255): string[] {
  const chunks: string[] = [];
  let chunk = '';
  let bytes = 0;
  for (const char of value) {
    const size = Buffer.byteLength(char);
    if (bytes + size > max) {
      chunks.push(chunk);
      chunk = '';
      bytes = 0;
    }
    chunk += char;
    bytes += size;
  }
  if (chunk || chunks.length === 0) chunks.push(chunk);
  return chunks;
}

/** Uncompressed, lower-case wire form of a name: the canonical form TSIG digests (RFC 8945 §4.3.3). */
export function canonicalName(name: string): Buffer {
  const labels = name.toLowerCase().replace(/\.$/, '').split('.').filter(Boolean);
  const parts: Buffer[] = [];
  for (const label of labels) {
    const bytes = Buffer.from(label, 'ascii');
    if (bytes.length > 63) throw new Error(`DNS label longer than 63 bytes in ${name}`);
    parts.push(Buffer.from([bytes.length]), bytes);
  }
  parts.push(Buffer.from([0]));
  return Buffer.concat(parts);
}

function uint48(seconds: number): Buffer {
  const buf = Buffer.alloc(6);
  buf.writeUInt16BE(Math.floor(seconds / 2 ** 32), 0);
  buf.writeUInt32BE(seconds % 2 ** 32, 2);
  return buf;
}

const u16 = (n: number) => {
  const b = Buffer.alloc(2);
  b.writeUInt16BE(n);
  return b;
};

interface TsigFields {
  timeSigned: number;
  fudge: number;
  error: number;
  other: Buffer;
}

/** The TSIG variables appended to the message for the MAC (RFC 8945 §4.3.3). */
function tsigVariables(key: TsigKey, fields: TsigFields): Buffer {
  return Buffer.concat([
    canonicalName(key.name),
    u16(CLASS_ANY),
    Buffer.alloc(4), // TTL 0
    canonicalName(key.algorithm),
    uint48(fields.timeSigned),
    u16(fields.fudge),
    u16(fields.error),
    u16(fields.other.length),
    fields.other,
  ]);
}

function hmac(key: TsigKey, ...parts: Buffer[]): Buffer {
  const mac = createHmac(key.algorithm === 'hmac-sha512' ? 'sha512' : 'sha256', key.secret);
  for (const part of parts) mac.update(part);
  return mac.digest();
}

/** Appends a TSIG record to `message` (ARCOUNT raised by one); returns the signed message and its MAC. */
export function signMessage(
  message: Buffer,
  key: TsigKey,
  timeSigned: number,
): { signed: Buffer; mac: Buffer } {
  const fields: TsigFields = { timeSigned, fudge: FUDGE_SECONDS, error: 0, other: Buffer.alloc(0) };
  const mac = hmac(key, message, tsigVariables(key, fields));
  const rdata = Buffer.concat([
    canonicalName(key.algorithm),
    uint48(timeSigned),
    u16(FUDGE_SECONDS),
    u16(mac.length),
    mac,
    message.subarray(0, 2), // original ID
    u16(0),
    u16(0),
  ]);
  const record = Buffer.concat([
    canonicalName(key.name),
    u16(TYPE_TSIG),
    u16(CLASS_ANY),
    Buffer.alloc(4),
    u16(rdata.length),
    rdata,
  ]);
  const signed = Buffer.concat([message, record]);
  signed.writeUInt16BE(message.readUInt16BE(10) + 1, 10);
  return { signed, mac };
}

/** Offset just past the (possibly compressed) name at `offset`. */
function skipName(buf: Buffer, offset: number): number {
  for (;;) {
    if (offset >= buf.length) throw new Error('name runs past the message');
    const len = buf[offset]!;
    if (len === 0) return offset + 1;
    if ((len & 0xc0) === 0xc0) return offset + 2;
    offset += len + 1;
  }
}

interface ParsedTsig {
  /** Where the TSIG record starts: the message the MAC covers ends here. */
  start: number;
  timeSigned: number;
  fudge: number;
  mac: Buffer;
  originalId: number;
  error: number;
  other: Buffer;
}

/** The TSIG record of a message (it must be the last additional record), or null. */
export function findTsig(buf: Buffer): ParsedTsig | null {
  if (buf.length < 12) throw new Error('message shorter than its header');
  let offset = 12;
  for (let i = 0; i < buf.readUInt16BE(4); i++) offset = skipName(buf, offset) + 4;
  const records = buf.readUInt16BE(6) + buf.readUInt16BE(8) + buf.readUInt16BE(10);
  let last = -1;
  let lastType = 0;
  let lastRdata = 0;
  for (let i = 0; i < records; i++) {
    last = offset;
    offset = skipName(buf, offset);
    lastType = buf.readUInt16BE(offset);
    lastRdata = offset + 10;
    offset = lastRdata + buf.readUInt16BE(offset + 8);
    if (offset > buf.length) throw new Error('record runs past the message');
  }
  if (last < 0 || lastType !== TYPE_TSIG || buf.readUInt16BE(10) === 0) return null;
  let p = skipName(buf, lastRdata); // algorithm
  const timeSigned = buf.readUInt16BE(p) * 2 ** 32 + buf.readUInt32BE(p + 2);
  const fudge = buf.readUInt16BE(p + 6);
  const macSize = buf.readUInt16BE(p + 8);
  p += 10;
  const mac = buf.subarray(p, p + macSize);
  p += macSize;
  const originalId = buf.readUInt16BE(p);
  const error = buf.readUInt16BE(p + 2);
  const otherLen = buf.readUInt16BE(p + 4);
  const other = buf.subarray(p + 6, p + 6 + otherLen);
  return { start: last, timeSigned, fudge, mac, originalId, error, other };
}

/** Checks a response's TSIG against the request's MAC (RFC 8945 §5.3); returns why it fails, or null. */
export function responseSignatureProblem(
  response: Buffer,
  key: TsigKey,
  requestMac: Buffer,
  nowSeconds: number,
): string | null {
  let tsig: ParsedTsig | null;
  try {
    tsig = findTsig(response);
  } catch {
    // The reason is returned and reported by the caller as the verification failure.
    return 'the response is malformed';
  }
  if (!tsig) return 'the response is not signed';
  const unsigned = Buffer.from(response.subarray(0, tsig.start));
  unsigned.writeUInt16BE(tsig.originalId, 0);
  unsigned.writeUInt16BE(unsigned.readUInt16BE(10) - 1, 10);
  const expected = hmac(
    key,
    u16(requestMac.length),
    requestMac,
    unsigned,
    tsigVariables(key, {
      timeSigned: tsig.timeSigned,
      fudge: tsig.fudge,
      error: tsig.error,
      other: tsig.other,
    }),
  );
  if (tsig.mac.length !== expected.length || !timingSafeEqual(tsig.mac, expected))
    return 'the response signature does not match the key';
  if (Math.abs(nowSeconds - tsig.timeSigned) > tsig.fudge)
    return 'the response was signed outside the time window';
  return null;
}

/** The update message (unsigned): zone section, prerequisites, changes. */
export function encodeUpdate(
  id: number,
  zone: string,
  prerequisites: UpdatePrerequisite[],
  changes: UpdateChange[],
): Buffer {
  const answers: Answer[] = prerequisites.map((p) => ({
    // "RRset exists (value independent)": class ANY, TTL 0, no data (RFC 2136 §2.4.1).
    name: p.name,
    type: 'TXT',
    class: 'ANY',
    ttl: 0,
    data: [],
  }));
  const authorities: Answer[] = changes.map((c) =>
    c.op === 'add'
      ? { name: c.name, type: 'TXT', class: 'IN', ttl: c.ttl, data: c.txt }
      : // "Delete an RRset": class ANY, TTL 0, no data (RFC 2136 §2.5.2).
        { name: c.name, type: 'TXT', class: 'ANY', ttl: 0, data: [] },
  );
  for (const c of changes)
    if (c.op === 'add' && c.txt.some((s) => Buffer.byteLength(s) > 255))
      throw new Error('a TXT character-string is longer than 255 bytes: split it');
  return dnsPacket.encode({
    type: 'query',
    id,
    flags: OPCODE_UPDATE << 11,
    questions: [{ name: zone, type: 'SOA', class: 'IN' }],
    answers,
    authorities,
  });
}

/** Sends one signed update and resolves when the server applied it; throws DnsUpdateRefused or DnsUpdateFailed. */
export async function sendDnsUpdate(request: DnsUpdateRequest): Promise<void> {
  const now = request.now ?? (() => Math.floor(Date.now() / 1000));
  const id = randomInt(0, 0x10000);
  const message = encodeUpdate(id, request.zone, request.prerequisites ?? [], request.changes);
  const { signed, mac } = signMessage(message, request.key, now());
  const response = await exchangeTcp(request.server, signed, request.timeoutMs ?? 10_000, request.signal);
  if (response.length < 12 || response.readUInt16BE(0) !== id)
    throw new DnsUpdateFailed('the response does not answer the update (wrong ID or too short)');
  const rcode = response[3]! & 0x0f;
  let tsig: ParsedTsig | null;
  try {
    tsig = findTsig(response);
  } catch (error) {
    throw new DnsUpdateFailed(`malformed response: ${errorMessage(error)}`);
  }
  if (tsig && tsig.error !== 0) throw new DnsUpdateRefused(rcodeName(rcode), tsigErrorName(tsig.error));
  if (rcode !== 0) throw new DnsUpdateRefused(rcodeName(rcode), undefined);
  const problem = responseSignatureProblem(response, request.key, mac, now());
  if (problem) throw new DnsUpdateFailed(`NOERROR received but ${problem}`);
}

/** One DNS exchange over TCP (two-byte length prefix, RFC 1035 §4.2.2). */
function exchangeTcp(
  server: { host: string; port: number },
  message: Buffer,
  timeoutMs: number,
  signal?: AbortSignal,
): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const where = `${server.host}:${server.port}`;
    const socket = connect({ host: server.host, port: server.port });
    let received = Buffer.alloc(0);
    let settled = false;
    const finish = (error: Error | null, value?: Buffer) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      signal?.removeEventListener('abort', onAbort);
      socket.destroy();
      if (error) reject(error);
      else resolve(value!);
    };
    const timer = setTimeout(
      () => finish(new DnsUpdateFailed(`no answer from ${where} in ${timeoutMs} ms`)),
      timeoutMs,
    );
    const onAbort = () => finish(new DnsUpdateFailed(`update to ${where} aborted`));
    if (signal?.aborted) return onAbort();
    signal?.addEventListener('abort', onAbort, { once: true });
    socket.once('connect', () => socket.write(Buffer.concat([u16(message.length), message])));
    socket.on('data', (chunk: Buffer) => {
      received = Buffer.concat([received, chunk]);
      if (received.length >= 2 && received.length >= 2 + received.readUInt16BE(0))
        finish(null, received.subarray(2, 2 + received.readUInt16BE(0)));
    });
    socket.once('error', (error: NodeJS.ErrnoException) =>
      finish(new DnsUpdateFailed(`${where}: ${error.code ?? error.message}`, { cause: error })),
    );
    socket.once('end', () => finish(new DnsUpdateFailed(`${where} closed the connection without an answer`)));
  });
}
