import { appendFileSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateAuditLog } from '../../bench/generate-audit-log.js';
import { assess, type BreachAssessment } from '../../src/assess/assess.service.js';
import { RevokedTokenIndex } from '../../src/assess/revoked-tokens.js';
import { SecretPathClassifier } from '../../src/assess/secret-paths.js';
import { AuditSink } from '../../src/audit/audit-sink.js';
import { mustParsePathTemplate, PathTemplateMatcher } from '../../src/config/path-template.js';
import type { RawLine } from '../../src/audit/line-reader.js';
import { LAB_TENANT_TEMPLATES } from '../../src/lab/layout.js';
import { silentLogger } from '../../src/logging/logger.js';
import { Store } from '../../src/store/store.js';
import { LIVE_RULES, startLiveRules, type LiveHit } from '../../src/watch/detect/detection.js';
import { liveEventOf } from '../../src/watch/detect/live-event.js';

const paths = LAB_TENANT_TEMPLATES.map(mustParsePathTemplate);
const config = {
  tenancy: { paths, exclude: new Set<string>(), source: undefined, widespreadThreshold: 10 },
  assess: {
    manyTenants: 3,
    loginBurstCount: 5,
    loginBurstWithinMs: 5 * 60_000,
    maxTokenTtlSeconds: 86_400,
    allowActors: [],
  },
};

const HISTORY_START = Date.parse('2026-03-01T00:00:00Z');
const WINDOW_START = Date.parse('2026-03-02T00:00:00Z');
const LEAKED_TOKEN = `hmac-sha256:${'feed'.repeat(16)}`;
const REVOKED_AT = '2026-03-02T00:00:30.000000000Z';

/** An OpenBao 2.7.2-shaped request/response pair (the generator's shape, fields that matter here). */
function call(o: {
  at: number;
  id: string;
  path: string;
  operation?: string;
  address: string;
  accessor?: string;
  display?: string;
  policies?: string[];
  clientToken?: string;
  error?: string;
}): string {
  const auth = o.accessor
    ? {
        client_token: o.clientToken,
        accessor: o.accessor,
        display_name: o.display,
        policies: o.policies,
        token_policies: o.policies,
        token_type: 'service',
      }
    : { token_type: 'default' };
  const request = {
    id: o.id,
    operation: o.operation ?? 'read',
    ...(o.clientToken ? { client_token: o.clientToken } : {}),
    ...(o.accessor ? { client_token_accessor: o.accessor } : {}),
    namespace: { id: 'root' },
    path: o.path,
    remote_address: o.address,
    remote_port: 40000,
  };
  const time = (ms: number) => new Date(ms).toISOString().replace('Z', '000000Z');
  const error = o.error ? { error: o.error } : {};
  return (
    `${JSON.stringify({ time: time(o.at), type: 'request', auth, request, ...error })}\n` +
    `${JSON.stringify({ time: time(o.at + 1), type: 'response', auth, request, response: {}, ...error })}\n`
  );
}

const MALLORY = {
  accessor: 'acc-mallory',
  display: 'userpass-mallory',
  policies: ['default', 'operator'],
  clientToken: `hmac-sha256:${'abcd'.repeat(16)}`,
  address: '10.20.0.10',
};

/** The incidents planted in the window, after the generated traffic (which spans ~20 s). */
function planted(): string {
  const s = WINDOW_START + 60_000;
  let out = '';
  // A burst of failed userpass logins from an address never seen before.
  for (let i = 0; i < 7; i++)
    out += call({
      at: s + i * 3_000,
      id: `burst-${i}`,
      path: 'auth/userpass/login/alice',
      operation: 'update',
      address: '198.51.100.7',
      error: 'invalid username or password',
    });
  // One operator reads six tenants' secrets, then writes a policy.
  for (let i = 1; i <= 6; i++)
    out += call({
      at: s + 30_000 + i * 100,
      id: `mallory-${i}`,
      path: `secret/data/tenants/tenant-000${i}/smtp`,
      ...MALLORY,
    });
  out += call({
    at: s + 31_000,
    id: 'mallory-policy',
    path: 'sys/policies/acl/backdoor',
    operation: 'update',
    ...MALLORY,
  });
  // A root token starts a root-token generation.
  out += call({
    at: s + 32_000,
    id: 'root-generate',
    path: 'sys/generate-root-token/attempt',
    operation: 'update',
    address: '10.20.0.10',
    accessor: 'acc-root-planted',
    display: 'root',
    policies: ['root'],
    clientToken: `hmac-sha256:${'0123'.repeat(16)}`,
  });
  // The tripwire: the leaked token, revoked by containment, used again (no accessor logged).
  out += call({
    at: s + 40_000,
    id: 'tripwire',
    path: 'secret/data/tenants/tenant-0001/smtp',
    address: '203.0.113.66',
    clientToken: LEAKED_TOKEN,
    error: 'permission denied',
  });
  return out;
}

const key = (rule: string, f: { time: string; path: string | null; accessor: string | null }) =>
  `${rule} ${f.time} ${f.path ?? '-'} ${f.accessor ?? '-'}`;

/**
 * One recorded audit log (a generated day of OpenBao 2.7.2 traffic with planted incidents) goes
 * through `assess` over the stored window and through the live evaluators as watch runs them on
 * the stream; both must report the same findings (rule, event time, path, accessor).
 */
describe('detection replay: assess over the stored window = live evaluation of the stream', () => {
  let dir: string;
  let store: Store;
  let report: BreachAssessment;
  const live: LiveHit[] = [];

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'sealwatch-detect-replay-'));
    const history = join(dir, 'history.log');
    const window = join(dir, 'window.log');
    await generateAuditLog({ file: history, lines: 6_000, tenants: 200, start: HISTORY_START });
    // The leaked token's calls before the incident: how its client-token HMAC is known.
    appendFileSync(
      history,
      call({
        at: HISTORY_START + 3_600_000,
        id: 'leaked-before',
        path: 'secret/data/tenants/tenant-0002/smtp',
        address: '10.20.0.10',
        accessor: 'acc-leaked',
        display: 'approle',
        policies: ['default', 'mailer'],
        clientToken: LEAKED_TOKEN,
      }),
    );
    await generateAuditLog({ file: window, lines: 20_000, tenants: 200, start: WINDOW_START });
    appendFileSync(window, planted());

    store = await Store.open(join(dir, 'sealwatch.db'));
    const pipeline = { store, matcher: new PathTemplateMatcher(paths), logger: silentLogger() };
    const lines = (file: string): RawLine[] =>
      readFileSync(file, 'utf8')
        .split('\n')
        .map((text, i) => ({ text, number: i + 1, end: 0, tooLong: false }));
    const past = new AuditSink(pipeline);
    past.add(lines(history), history);
    await past.flush();
    await store.revokedAccessors.record(['acc-leaked'], 'inc-replay', REVOKED_AT);

    // Live: what watch's detection loads when it starts, then the window as the socket delivers it.
    const revokedList = await store.revokedAccessors.list();
    const tokens = await store.revokedAccessors.tokensOf(revokedList.map((r) => r.accessor));
    const revoked = new RevokedTokenIndex(
      revokedList,
      new Map(tokens.map((t) => [t.client_token, t.accessor])),
    );
    const evaluate = startLiveRules({
      thresholds: config.assess,
      secrets: new SecretPathClassifier(paths, config.tenancy.exclude),
      knownAddresses: new Set(await store.auditAnalysis.storedAddresses()),
      revoked,
    });
    const stream = new AuditSink(pipeline, {
      batchSize: 500,
      onStoredRows: (rows) => {
        for (const row of rows) {
          const event = liveEventOf(row);
          revoked.learn(event);
          live.push(...evaluate(event));
        }
      },
    });
    const all = lines(window);
    for (let i = 0; i < all.length; i += 500) {
      stream.add(all.slice(i, i + 500), 'socket:127.0.0.1');
      await stream.flush();
    }
    // The same lines again, as the file device's twin: stored once, judged once.
    stream.add(all.slice(0, 2_000), window);
    await stream.flush();

    report = await assess(
      {
        since: new Date(WINDOW_START),
        until: new Date(WINDOW_START + 3_600_000),
        limit: 1_000_000,
      },
      {
        analysis: store.auditAnalysis,
        revoked: store.revokedAccessors,
        config,
        logger: silentLogger(),
      },
    );
  }, 120_000);

  afterAll(async () => {
    await store?.close();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('finds the planted incidents live', () => {
    const of = (rule: string) => live.filter((h) => h.rule.id === rule).map((h) => h.finding);
    expect(of('login-burst').map((f) => f.remote_address)).toEqual(Array(7).fill('198.51.100.7'));
    expect(of('sys-change').map((f) => [f.path, f.detail])).toContainEqual([
      'sys/policies/acl/backdoor',
      'policy written',
    ]);
    expect(of('sys-change').map((f) => [f.path, f.detail])).toContainEqual([
      'sys/generate-root-token/attempt',
      'keys or root token regenerated',
    ]);
    expect(of('many-tenants')).toContainEqual(
      expect.objectContaining({ accessor: 'acc-mallory', path: 'secret/data/tenants/tenant-0004/smtp' }),
    );
    expect(of('revoked-token-use')).toEqual([
      expect.objectContaining({
        accessor: 'acc-leaked',
        remote_address: '203.0.113.66',
        path: 'secret/data/tenants/tenant-0001/smtp',
      }),
    ]);
    expect(of('new-address').map((f) => f.remote_address)).toEqual(['198.51.100.7', '203.0.113.66']);
    expect(of('root-token').length).toBeGreaterThan(100);
  });

  it('gives the same findings as assess over the stored window, rule by rule', () => {
    const liveIds = new Set<string>(LIVE_RULES.map((r) => r.id));
    const stored = report.suspicious.filter((s) => liveIds.has(s.rule));
    expect(report.suspicious_truncated).toBe(false);
    // The stored window reports a fleet (many tokens of one identity reading many tenants) as
    // normal work; live knows a fleet only from its FLEET_SIZE-th token on, so it reported the
    // first FLEET_SIZE - 1 of each. Those, and only those, are the difference.
    const fleetNote = report.notes.find((n) => n.startsWith('many-tenants:')) ?? '';
    const fleetExtras = live.filter(
      (h) =>
        h.rule.id === 'many-tenants' &&
        !stored.some((s) => s.rule === 'many-tenants' && s.accessor === h.finding.accessor),
    );
    for (const extra of fleetExtras) expect(fleetNote).toContain(`"${extra.finding.display_name}"`);
    expect(fleetExtras.length).toBeLessThanOrEqual(4);
    const liveKeys = live
      .filter((h) => !fleetExtras.includes(h))
      .map((h) => key(h.rule.id, h.finding))
      .sort();
    const storedKeys = stored.map((s) => key(s.rule, s)).sort();
    for (const rule of liveIds)
      expect(
        liveKeys.filter((k) => k.startsWith(`${rule} `)),
        `${rule}: live findings differ from the stored window's`,
      ).toEqual(storedKeys.filter((k) => k.startsWith(`${rule} `)));
    expect(liveKeys.length).toBeGreaterThan(100);
  });
});
