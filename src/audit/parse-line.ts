import { createHash } from 'node:crypto';
import type { PathTemplateMatcher } from '../config/path-template.js';
import { toSortableUtc } from '../util/time.js';
import type { AuditEvent } from '../store/audit-event.js';
import { HMAC_KEY_LENGTH, HMAC_PREFIX, hmacKey } from '../store/hmac-key.js';

export type ParseResult = { ok: true; event: AuditEvent } | { ok: false; reason: string };

export interface ParseContext {
  /** Built once from config `tenancy.paths`; finds the tenant of each path. */
  matcher: PathTemplateMatcher;
  /** Where the line came from: a file path, `stdin` or `socket:<peer>`. */
  source: string;
}

/**
 * Audit format versions sealwatch understands. OpenBao and Vault write no version field today; an
 * entry that names a version it does not know is refused rather than half-read, because a renamed
 * field would silently drop accessors or paths from a breach assessment.
 */
const SUPPORTED_FORMAT_VERSIONS: ReadonlySet<unknown> = new Set(['1', 1, 'v1']);

const QUOTED_HMAC_PREFIX = `"${HMAC_PREFIX}`;
const BACKSLASH = 0x5c;
/** A real HMAC is 64 hex digits; anything much longer is not one. */
const MAX_HMAC_LENGTH = 160;

/**
 * Tenants by path, per matcher: paths repeat (tenants x secret kinds), and matching every
 * template per line costs a quarter of a JSON.parse. Bounded: cleared when it fills up.
 */
const tenantCaches = new WeakMap<PathTemplateMatcher, Map<string, string | null>>();
const TENANT_CACHE_LIMIT = 100_000;

type Json = Record<string, unknown>;

const isObject = (value: unknown): value is Json =>
  typeof value === 'object' && value !== null && !Array.isArray(value);
const str = (value: unknown): string | null => (typeof value === 'string' ? value : null);

/**
 * Parses one line of a file or socket audit device into an AuditEvent. Never throws: anything that
 * is not a complete audit entry comes back as `{ ok: false, reason }` so ingestion counts and
 * reports it and goes on with the next line.
 */
export function parseAuditLine(line: string, context: ParseContext): ParseResult {
  let entry: unknown;
  try {
    entry = JSON.parse(line);
  } catch (error) {
    return { ok: false, reason: describeJsonFailure(line, error) };
  }
  if (!isObject(entry)) return { ok: false, reason: `not an audit entry (a JSON ${jsonKind(entry)})` };
  const version = entry['format_version'] ?? entry['version'];
  if (version !== undefined && !SUPPORTED_FORMAT_VERSIONS.has(version))
    return { ok: false, reason: `unsupported audit format version ${JSON.stringify(version)}` };

  const type = entry['type'];
  if (type === undefined) return { ok: false, reason: 'not an audit entry (no "type")' };
  if (type !== 'request' && type !== 'response')
    return { ok: false, reason: `unknown audit entry type ${JSON.stringify(type)}` };
  const rawTime = entry['time'];
  if (typeof rawTime !== 'string') return { ok: false, reason: 'not an audit entry (no "time")' };
  const time = normaliseTime(rawTime);
  if (time === undefined)
    return { ok: false, reason: `"time" is not an ISO-8601 timestamp: ${clip(rawTime)}` };

  const auth = entry['auth'] ?? {};
  const request = entry['request'] ?? {};
  const response = entry['response'] ?? {};
  if (!isObject(auth)) return { ok: false, reason: '"auth" is not an object' };
  if (!isObject(request)) return { ok: false, reason: '"request" is not an object' };
  if (!isObject(response)) return { ok: false, reason: '"response" is not an object' };
  const error = entry['error'];
  if (error !== undefined && error !== null && typeof error !== 'string')
    return { ok: false, reason: '"error" is not a string' };

  const requestId = str(request['id']);
  const path = str(request['path']);
  const accessor = str(auth['accessor']) ?? str(request['client_token_accessor']);
  const namespace = request['namespace'];
  const port = request['remote_port'];
  const wrapInfo = response['wrap_info'];
  const issued = response['auth'];
  const issuedTtl = isObject(issued) ? issued['token_ttl'] : undefined;
  const clientToken = str(request['client_token']);
  return {
    ok: true,
    event: {
      event_key: requestId
        ? `${requestId}:${type}`
        : `line:${createHash('sha256').update(line).digest('hex')}`,
      time,
      type,
      request_id: requestId,
      operation: str(request['operation']),
      path,
      mount_point: str(request['mount_point']),
      mount_type: str(request['mount_type']),
      namespace: isObject(namespace) ? str(namespace['id']) : null,
      remote_address: str(request['remote_address']),
      remote_port: typeof port === 'number' && Number.isInteger(port) ? port : null,
      accessor,
      accessor_hmac: accessor !== null && accessor.startsWith('hmac-sha256:'),
      display_name: str(auth['display_name']),
      policies: stringArray(auth['token_policies']) ?? stringArray(auth['policies']) ?? [],
      entity_id: str(auth['entity_id']) || null,
      token_type: str(auth['token_type']),
      metadata: stringRecord(auth['metadata']),
      error: typeof error === 'string' && error !== '' ? error : null,
      wrap_info: isObject(wrapInfo) ? wrapInfo : null,
      tenant: path === null ? null : tenantOf(context.matcher, path),
      hmac_values: hmacValues(line),
      issued_token_ttl: typeof issuedTtl === 'number' && Number.isFinite(issuedTtl) ? issuedTtl : null,
      client_token: clientToken?.startsWith(HMAC_PREFIX) ? hmacKey(clientToken) : null,
      source: context.source,
    },
  };
}

/** Times are stored sortable: ISO-8601 UTC with nine fraction digits (see toSortableUtc). */
export const normaliseTime = toSortableUtc;

/**
 * HMAC'd values as the device writes them: a whole JSON string `hmac-sha256:<hex>`, kept by their
 * keys (see hmac-key.ts). Scanning the raw line finds them wherever they sit (request/response
 * data, arrays, client tokens, wrap info) without walking the parsed object; indexOf is a third
 * faster than a regex here. A match preceded by a backslash is an escaped quote inside some other
 * string, not a value of its own.
 */
function hmacValues(line: string): string {
  let at = line.indexOf(QUOTED_HMAC_PREFIX);
  if (at === -1) return '';
  const seen = new Set<string>();
  while (at !== -1) {
    const start = at + QUOTED_HMAC_PREFIX.length;
    const end = line.indexOf('"', start);
    if (end === -1) break;
    if (
      line.charCodeAt(at - 1) !== BACKSLASH &&
      end - at <= MAX_HMAC_LENGTH &&
      line.charCodeAt(end - 1) !== BACKSLASH
    )
      seen.add(line.slice(start, Math.min(end, start + HMAC_KEY_LENGTH)));
    at = line.indexOf(QUOTED_HMAC_PREFIX, end + 1);
  }
  return [...seen].join(' ');
}

function tenantOf(matcher: PathTemplateMatcher, path: string): string | null {
  let cache = tenantCaches.get(matcher);
  if (!cache) tenantCaches.set(matcher, (cache = new Map<string, string | null>()));
  let tenant = cache.get(path);
  if (tenant === undefined) {
    tenant = matcher.match(path)?.tenant ?? null;
    if (cache.size >= TENANT_CACHE_LIMIT) cache.clear();
    cache.set(path, tenant);
  }
  return tenant;
}

function stringArray(value: unknown): string[] | undefined {
  if (!Array.isArray(value)) return undefined;
  return value.filter((v): v is string => typeof v === 'string');
}

function stringRecord(value: unknown): Record<string, string> | null {
  if (!isObject(value)) return null;
  const out: Record<string, string> = {};
  for (const [key, inner] of Object.entries(value)) if (typeof inner === 'string') out[key] = inner;
  return Object.keys(out).length > 0 ? out : null;
}

// Reasons never quote the line: a garbage line can hold anything, including a pasted secret.
function describeJsonFailure(line: string, error: unknown): string {
  // eslint-disable-next-line no-control-regex
  if (/[\u0000-\u0008\u000e-\u001f\ufffd]/.test(line)) return 'binary data, not a JSON audit entry';
  // A line cut short (a crash mid-write, a partial socket frame) fails at its very end.
  const message = error instanceof Error ? error.message : '';
  const position = /at position (\d+)/.exec(message)?.[1];
  const trimmed = line.trimEnd();
  const atEnd =
    /end of (JSON )?input/i.test(message) ||
    (position !== undefined && Number(position) >= trimmed.length - 1);
  if (atEnd && trimmed.trimStart().startsWith('{')) return 'truncated JSON audit entry';
  return 'not JSON';
}

function jsonKind(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'array';
  return typeof value;
}

const clip = (value: string) => JSON.stringify(value.length > 40 ? `${value.slice(0, 40)}…` : value);
