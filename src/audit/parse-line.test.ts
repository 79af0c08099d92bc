import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { mustParsePathTemplate, PathTemplateMatcher } from '../config/path-template.js';
import { hmacKey } from '../store/hmac-key.js';
import { normaliseTime, parseAuditLine, type ParseResult } from './parse-line.js';

// Real lines written by the file audit device of OpenBao 2.7.2 in a sealwatch lab (values HMAC'd).
const FIXTURE = fileURLToPath(new URL('../../test/fixtures/audit/openbao-2.7.2.jsonl', import.meta.url));
const lines = readFileSync(FIXTURE, 'utf8').trimEnd().split('\n');
const line = (index: number) => lines[index]!;

const context = {
  matcher: new PathTemplateMatcher(
    ['secret/tenants/{tenant}/smtp', 'secret/tenants/{tenant}/dkim', 'secret/api_keys/{tenant}/{key_id}'].map(
      mustParsePathTemplate,
    ),
  ),
  source: '/var/log/openbao/audit.log',
};

const parse = (text: string) => parseAuditLine(text, context);
const event = (text: string) => {
  const result = parse(text);
  if (!result.ok) throw new Error(`expected an event, got: ${result.reason}`);
  return result.event;
};
const reason = (result: ParseResult) => (result.ok ? 'ok' : result.reason);

describe('parseAuditLine on real OpenBao lines', () => {
  it('parses every fixture line', () => {
    for (const text of lines) expect(parse(text).ok).toBe(true);
  });

  it('normalises a root read of a tenant secret (request and response share the request id)', () => {
    const request = event(line(1));
    const response = event(line(2));
    expect(request).toMatchObject({
      event_key: '88162079-a4f4-5f65-64a2-57d800b5220a:request',
      type: 'request',
      request_id: '88162079-a4f4-5f65-64a2-57d800b5220a',
      operation: 'read',
      path: 'secret/data/tenants/tenant-0001/smtp',
      mount_point: 'secret/',
      mount_type: 'kv',
      namespace: 'root',
      remote_address: '127.0.0.1',
      accessor: '293BTiaZV1BpTJdO2xysi2j2',
      accessor_hmac: false,
      display_name: 'root',
      policies: ['root'],
      token_type: 'service',
      error: null,
      tenant: 'tenant-0001',
      source: '/var/log/openbao/audit.log',
    });
    expect(request.remote_port).toEqual(expect.any(Number));
    expect(request.time).toMatch(/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{9}Z$/);
    expect(response.event_key).toBe('88162079-a4f4-5f65-64a2-57d800b5220a:response');
    // The response carries the HMAC'd secret values; the client token is HMAC'd too. Each is kept
    // by its key: the first 16 hex digits of the HMAC.
    const hmacs = response.hmac_values.split(' ');
    expect(hmacs.length).toBeGreaterThanOrEqual(5);
    expect(hmacs.every((h) => /^[0-9a-f]{16}$/.test(h))).toBe(true);
    expect(new Set(hmacs).size).toBe(hmacs.length);
    const parsed = JSON.parse(line(2)) as { response: { data: { data: Record<string, string> } } };
    for (const value of Object.values(parsed.response.data.data)) {
      expect(value).toMatch(/^hmac-sha256:[0-9a-f]{64}$/);
      expect(hmacs).toContain(hmacKey(value));
    }
    expect(hmacs).toContain(
      hmacKey((JSON.parse(line(2)) as { auth: { client_token: string } }).auth.client_token),
    );
  });

  it('keeps the error of a denied request and the caller of it', () => {
    const denied = event(line(4));
    expect(denied).toMatchObject({
      type: 'response',
      path: 'secret/data/api_keys/tenant-0001/k1',
      tenant: 'tenant-0001',
      display_name: 'token',
      policies: ['default', 'mailer'],
      accessor: 'CFqxKqCXgey50GoDozHLinw4',
    });
    expect(denied.error).toContain('permission denied');
    // A bogus token: no accessor, no caller, but the HMAC of the presented token.
    const bogus = event(line(15));
    expect(bogus).toMatchObject({ accessor: null, display_name: null, error: 'permission denied' });
    expect(bogus.hmac_values).toMatch(/^[0-9a-f]{16}$/);
  });

  it('reads logins: metadata, entity and the new token of the response', () => {
    const login = event(line(12));
    expect(login).toMatchObject({
      path: 'auth/userpass/login/alice',
      display_name: 'userpass-alice',
      policies: ['default', 'operator'],
      metadata: { username: 'alice' },
      accessor: '4SzKspQC3YqN2PsdR236HMj7',
      tenant: null,
    });
    expect(login.entity_id).toMatch(/^[0-9a-f-]{36}$/);
    // The lifetime of the token a login issued: the one unhashed trace of it (userpass default 768h).
    expect(login.issued_token_ttl).toBe(2764800);
    expect(event(line(11)).issued_token_ttl).toBeNull();
    expect(event(line(14)).error).toBe('invalid credentials');
    expect(event(line(19)).metadata).toEqual({ role_name: 'mailer' });
  });

  it('keeps wrap_info of a wrapped response', () => {
    const wrapped = event(line(8));
    expect(wrapped.wrap_info).toMatchObject({
      ttl: 300,
      creation_path: 'secret/data/tenants/tenant-0003/dkim',
    });
    expect(wrapped.hmac_values.split(' ')).toContain(hmacKey((wrapped.wrap_info as { token: string }).token));
  });

  it('reads the audit device test entry, which has no caller and no address', () => {
    expect(event(line(0))).toMatchObject({
      path: 'sys/audit/test',
      accessor: null,
      remote_address: null,
      policies: [],
    });
  });

  it('marks HMAC-ed accessors (hmac_accessor=true devices)', () => {
    const entry = JSON.parse(line(1)) as {
      auth: { accessor: string };
      request: { client_token_accessor: string };
    };
    entry.auth.accessor = entry.request.client_token_accessor = `hmac-sha256:${'ab'.repeat(32)}`;
    const hmaced = event(JSON.stringify(entry));
    expect(hmaced).toMatchObject({ accessor: `hmac-sha256:${'ab'.repeat(32)}`, accessor_hmac: true });
  });

  it('keys entries without a request id by the hash of the line', () => {
    const entry = JSON.parse(line(1)) as { request: { id?: string } };
    delete entry.request.id;
    const text = JSON.stringify(entry);
    expect(event(text).event_key).toMatch(/^line:[0-9a-f]{64}$/);
    expect(event(text).event_key).toBe(event(text).event_key);
  });
});

describe('parseAuditLine on bad input', () => {
  it('returns a reason instead of throwing', () => {
    expect(reason(parse(''))).toBe('not JSON');
    expect(reason(parse('hello world'))).toBe('not JSON');
    expect(reason(parse(line(2).slice(0, 300)))).toBe('truncated JSON audit entry');
    expect(reason(parse('\u0000\u0001\u00ff\ufffdPK\u0003\u0004'))).toMatch(/binary/);
    expect(reason(parse('[1,2]'))).toMatch(/JSON array/);
    expect(reason(parse('42'))).toMatch(/JSON number/);
    expect(reason(parse('null'))).toMatch(/JSON null/);
    expect(reason(parse('{"time":"2026-01-01T00:00:00Z"}'))).toMatch(/no "type"/);
    expect(reason(parse('{"type":"request"}'))).toMatch(/no "time"/);
    expect(reason(parse('{"type":"event","time":"2026-01-01T00:00:00Z"}'))).toMatch(
      /unknown audit entry type/,
    );
    expect(reason(parse('{"type":"request","time":"yesterday"}'))).toMatch(/not an ISO-8601/);
    expect(reason(parse('{"type":"request","time":"2026-01-01T00:00:00Z","request":"x"}'))).toMatch(
      /"request" is not/,
    );
    expect(reason(parse('{"type":"request","time":"2026-01-01T00:00:00Z","error":{"a":1}}'))).toMatch(
      /"error" is not/,
    );
  });

  it('refuses an unknown format version rather than half-reading it', () => {
    const entry = { ...(JSON.parse(line(1)) as object), format_version: '2' };
    expect(reason(parse(JSON.stringify(entry)))).toBe('unsupported audit format version "2"');
  });

  it('never quotes the rejected line in the reason', () => {
    expect(reason(parse('password=hunter2 not json'))).not.toContain('hunter2');
  });
});

describe('normaliseTime', () => {
  it('pads fractions to nine digits so text order is time order', () => {
    expect(normaliseTime('2026-11-24T22:18:22.96467578Z')).toBe('2026-11-24T22:18:22.964675780Z');
    expect(normaliseTime('2026-11-24T22:18:22Z')).toBe('2026-11-24T22:18:22.000000000Z');
    expect(normaliseTime('2026-11-24T23:18:22.5+01:00')).toBe('2026-11-24T22:18:22.500000000Z');
    expect(normaliseTime('2026-11-24')).toBeUndefined();
    const a = normaliseTime('2026-11-24T22:18:22Z')!;
    const b = normaliseTime('2026-11-24T22:18:22.5Z')!;
    expect(a < b).toBe(true);
  });
});
