import { describe, expect, it } from 'vitest';
import type { AnalysisEvent, PathReads } from '../../store/repositories/audit-analysis.repository.js';
import { mustParsePathTemplate } from '../../config/path-template.js';
import type { AssessData, RuleContext } from '../rule.js';
import { SecretPathClassifier } from '../secret-paths.js';
import { secretReadsFromPairs } from '../secret-reads.js';
import { RULES } from './index.js';

/** Rules over synthetic events: a fake AssessData (pure logic; the SQL is tested on real stores). */
let id = 0;
function event(overrides: Partial<AnalysisEvent> = {}): AnalysisEvent {
  id++;
  return {
    id,
    time: '2026-01-01T12:00:00.000000000Z',
    type: 'response',
    request_id: `r${id}`,
    operation: 'read',
    path: 'secret/data/tenants/t1/smtp',
    mount_point: 'secret/',
    mount_type: 'kv',
    accessor: 'acc',
    display_name: 'approle',
    remote_address: '10.0.0.1',
    error: null,
    policies: ['default', 'mailer'],
    issued_token_ttl: null,
    ...overrides,
  };
}

const minute = (m: number) =>
  new Date(Date.UTC(2026, 0, 1, 12, 0) + m * 60_000).toISOString().replace('Z', '000000Z');

function context(data: Partial<AssessData>, identities: Record<string, string[]> = {}): RuleContext {
  const none = async () => [];
  return {
    data: {
      window: { since: minute(0), until: minute(60) },
      failedResponses: none,
      rootTokenRequests: none,
      sysWrites: none,
      tokenCreations: none,
      secretReads: secretReads([]),
      hasHistoryBeforeWindow: async () => true,
      addressesFirstSeenInWindow: none,
      firstRequestsFrom: none,
      accessorIdentities: async (accessors) =>
        accessors.map((accessor) => ({
          accessor,
          display_name: 'approle',
          policies: identities[accessor] ?? [accessor],
        })),
      revokedTokens: async () => ({ revoked: [], tokens: new Map(), calls: [] }),
      ...data,
    },
    thresholds: {
      manyTenants: 3,
      loginBurstCount: 5,
      loginBurstWithinMs: 5 * 60_000,
      maxTokenTtlSeconds: 86_400,
      allowActors: [],
    },
    secrets: classifier(),
  };
}

function classifier(): SecretPathClassifier {
  return new SecretPathClassifier(
    ['secret/tenants/{tenant}/smtp', 'secret/api_keys/{tenant}/{key_id}'].map(mustParsePathTemplate),
    new Set(['test-tenant-id']),
  );
}

/** The rules' view of (token, path) read pairs, classified as assess does when templates changed. */
const secretReads = (pairs: PathReads[]) => async () => secretReadsFromPairs(pairs, classifier());

const DENIED = '1 error occurred:\n\t* permission denied\n\n';

describe('error rules', () => {
  const failed = [
    event({ error: DENIED }),
    event({ error: '1 error occurred:\n\t* unsupported path\n\n', path: 'secret/data/x' }),
    event({ error: 'invalid credentials', path: 'auth/userpass/login/alice', accessor: null }),
    event({ error: DENIED, path: 'auth/approle/login' }),
  ];
  const ctx = context({ failedResponses: async () => failed });

  it('splits refusals, other failures and failed logins without overlap', async () => {
    expect((await RULES['permission-denied'].detect(ctx)).findings.map((f) => f.event_id)).toEqual([
      failed[0]!.id,
    ]);
    const errors = (await RULES['request-error'].detect(ctx)).findings;
    expect(errors.map((f) => [f.event_id, f.detail])).toEqual([[failed[1]!.id, 'unsupported path']]);
    expect((await RULES['login-failure'].detect(ctx)).findings.map((f) => f.event_id)).toEqual([
      failed[2]!.id,
      failed[3]!.id,
    ]);
  });
});

describe('login-burst', () => {
  const login = (m: number, address = '198.51.100.7') =>
    event({
      time: minute(m),
      path: 'auth/userpass/login/alice',
      error: 'invalid credentials',
      accessor: null,
      remote_address: address,
    });

  it('fires on five failures within five minutes from one address, on each of them', async () => {
    const burst = [0, 1, 2, 3, 4].map((m) => login(m));
    const findings = (await RULES['login-burst'].detect(context({ failedResponses: async () => burst })))
      .findings;
    expect(findings).toHaveLength(5);
  });

  it('stays quiet when the failures are spread out or come from several addresses', async () => {
    const spread = [0, 2, 4, 6, 8, 10].map((m) => login(m));
    const several = [0, 1, 2, 3, 4].map((m) => login(m, `10.0.0.${m}`));
    for (const failures of [spread, several])
      expect(
        (await RULES['login-burst'].detect(context({ failedResponses: async () => failures }))).findings,
      ).toEqual([]);
  });
});

describe('root-token', () => {
  it('trusts the policy list, not the loose LIKE behind the query', async () => {
    const events = [
      event({ type: 'request', policies: ['root'] }),
      event({ type: 'request', policies: ['rootless-ops'] }),
    ];
    const findings = (await RULES['root-token'].detect(context({ rootTokenRequests: async () => events })))
      .findings;
    expect(findings.map((f) => f.event_id)).toEqual([events[0]!.id]);
  });
});

describe('many-tenants', () => {
  const reads = (
    accessor: string,
    tenants: string[],
    path = (t: string) => `secret/data/tenants/${t}/smtp`,
  ): PathReads[] =>
    tenants.map((t, i) => ({
      accessor,
      path: path(t),
      mount_point: 'secret/',
      mount_type: 'kv',
      reads: 1,
      first_read: minute(i),
    }));

  it('fires above the threshold, dated at the read that crossed it', async () => {
    const data = { secretReads: secretReads(reads('evil', ['t1', 't2', 't3', 't4'])) };
    const [finding] = (await RULES['many-tenants'].detect(context(data))).findings;
    expect(finding).toMatchObject({
      accessor: 'evil',
      time: minute(3),
      path: 'secret/data/tenants/t4/smtp',
      event_id: null,
    });
  });

  it('does not count excluded tenants, metadata reads or paths outside the templates', async () => {
    const data = {
      secretReads: secretReads([
        ...reads('a', ['t1', 't2', 't3', 'test-tenant-id']),
        ...reads('a', ['t5'], (t) => `secret/metadata/tenants/${t}/smtp`),
        ...reads('a', ['t6'], (t) => `secret/data/elsewhere/${t}`),
      ]),
    };
    expect((await RULES['many-tenants'].detect(context(data))).findings).toEqual([]);
  });

  it('leaves a fleet of tokens of one identity to the other rules, and says so', async () => {
    const tenants = ['t1', 't2', 't3', 't4', 't5'];
    const data = {
      secretReads: secretReads([
        ...reads('app-1', tenants),
        ...reads('app-2', tenants),
        ...reads('app-3', tenants),
        ...reads('evil', tenants),
      ]),
    };
    const mailer = ['default', 'mailer'];
    const outcome = await RULES['many-tenants'].detect(
      context(data, { 'app-1': mailer, 'app-2': mailer, 'app-3': mailer, evil: ['default', 'operator'] }),
    );
    expect(outcome.findings.map((f) => f.accessor)).toEqual(['evil']);
    expect(outcome.note).toMatch(/3 tokens/);
  });
});

describe('new-address', () => {
  it('says it cannot judge without history instead of calling everyone new', async () => {
    const outcome = await RULES['new-address'].detect(context({ hasHistoryBeforeWindow: async () => false }));
    expect(outcome.findings).toEqual([]);
    expect(outcome.note).toMatch(/no events stored before the window/);
  });

  it('reports the first request of each actor from a new address', async () => {
    const first = event({ type: 'request', remote_address: '203.0.113.9' });
    const outcome = await RULES['new-address'].detect(
      context({
        addressesFirstSeenInWindow: async () => [{ remote_address: '203.0.113.9', first_seen: first.time }],
        firstRequestsFrom: async () => [first],
      }),
    );
    expect(outcome.findings.map((f) => f.event_id)).toEqual([first.id]);
  });
});

describe('sys-change', () => {
  it('names the kind of change and ignores harmless writes under sys/', async () => {
    const events = [
      event({ operation: 'delete', path: 'sys/audit/file' }),
      event({ operation: 'update', path: 'sys/policies/acl/backdoor' }),
      event({ operation: 'delete', path: 'sys/auth/approle' }),
      event({ operation: 'update', path: 'sys/mounts/kv2', error: DENIED }),
      event({ operation: 'update', path: 'sys/leases/renew' }),
      event({ operation: 'update', path: 'sys/audit-hash/file' }),
    ];
    const findings = (await RULES['sys-change'].detect(context({ sysWrites: async () => events }))).findings;
    expect(findings.map((f) => f.detail)).toEqual([
      'audit device disabled',
      'policy written',
      'auth method disabled',
      'secrets engine enabled (refused)',
    ]);
  });
});

describe('token-long-ttl', () => {
  it('fires on tokens that never expire or outlive the limit', async () => {
    const events = [
      event({ path: 'auth/token/create', issued_token_ttl: 0 }),
      event({ path: 'auth/token/create', issued_token_ttl: 3600 }),
      event({ path: 'auth/token/create-orphan', issued_token_ttl: 30 * 86_400 }),
      event({ path: 'auth/token/create', issued_token_ttl: null }),
    ];
    const findings = (await RULES['token-long-ttl'].detect(context({ tokenCreations: async () => events })))
      .findings;
    expect(findings.map((f) => f.detail)).toEqual(['token never expires (ttl 0)', 'ttl 30d > 24h']);
  });
});
