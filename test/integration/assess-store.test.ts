import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { assess, type BreachAssessment } from '../../src/assess/assess.service.js';
import { LAB_TENANT_TEMPLATES } from '../../src/lab/layout.js';
import { silentLogger } from '../../src/logging/logger.js';
import { Store } from '../../src/store/store.js';
import { mustParsePathTemplate, PathTemplateMatcher } from '../../src/config/path-template.js';
import { at, auditCall, auditRow, insertRows, type AuditRow } from '../harness/audit-fixtures.js';
import { storeBackends } from '../harness/store-backends.js';

/** Breach assessment over synthetic events, on both stores: the SQL of every rule runs on each. */
const backends = storeBackends('sealwatch-assess');

const config = {
  tenancy: {
    paths: LAB_TENANT_TEMPLATES.map(mustParsePathTemplate),
    exclude: new Set(['test-tenant-id']),
    source: undefined,
    widespreadThreshold: 10,
  },
  assess: {
    manyTenants: 3,
    loginBurstCount: 5,
    loginBurstWithinMs: 5 * 60_000,
    maxTokenTtlSeconds: 86_400,
    allowActors: [],
  },
};

const ATTACKER = { accessor: 'acc-evil', display_name: 'approle', remote_address: '203.0.113.9' };
const ROOT = {
  accessor: 'acc-root',
  display_name: 'root',
  remote_address: '203.0.113.9',
  policies: ['root'],
};
const smtp = (tenant: string) => `secret/data/tenants/${tenant}/smtp`;

function scenario(): AuditRow[] {
  return [
    // History before the window: the mailer from its usual address.
    ...auditCall({ time: at(-120), accessor: 'acc-old', path: smtp('tenant-0001') }),
    // Normal traffic in the window: three tenants, one dull failure (low: implicates nobody).
    ...['tenant-0001', 'tenant-0002', 'tenant-0003'].flatMap((t, i) =>
      auditCall({ time: at(1 + i), path: smtp(t) }),
    ),
    ...auditCall({ time: at(4), path: smtp('tenant-0002') }),
    ...auditCall({ time: at(5), operation: 'list', path: 'secret/metadata/tenants' }),
    ...auditCall({
      time: at(6),
      path: 'secret/data/nowhere',
      error: '1 error occurred:\n\t* unsupported path',
    }),
    // The attacker: four tenants and the test tenant, one refused probe, one metadata read.
    ...['tenant-0004', 'tenant-0005', 'tenant-0006', 'tenant-0007', 'test-tenant-id'].flatMap((t, i) =>
      auditCall({ ...ATTACKER, time: at(10 + i), path: smtp(t) }),
    ),
    ...auditCall({ ...ATTACKER, time: at(16), path: smtp('tenant-0004') }),
    ...auditCall({
      ...ATTACKER,
      time: at(17),
      path: 'secret/data/tenants/tenant-0008/ssh',
      error: '1 error occurred:\n\t* permission denied\n\n',
    }),
    ...auditCall({ ...ATTACKER, time: at(18), path: 'secret/metadata/tenants/tenant-0009/ssh' }),
    // Password guessing: six failures in two minutes from one address (no token, so no accessor).
    ...Array.from({ length: 6 }, (_, i) =>
      (['request', 'response'] as const).map((type) =>
        auditRow({
          type,
          request_id: `guess-${i}`,
          time: at(20 + i * 0.4),
          operation: 'update',
          path: 'auth/userpass/login/alice',
          accessor: null,
          display_name: null,
          policies: [],
          remote_address: '198.51.100.7',
          // OpenBao records the failure on the response only.
          error: type === 'response' ? 'invalid credentials' : null,
        }),
      ),
    ).flat(),
    // Root token: a backdoor policy and a token that never expires.
    ...auditCall({ ...ROOT, time: at(30), operation: 'update', path: 'sys/policies/acl/backdoor' }),
    ...auditCall({
      ...ROOT,
      time: at(31),
      operation: 'update',
      path: 'auth/token/create',
      issued_token_ttl: 0,
    }),
    // After the window: must not count.
    ...auditCall({ ...ATTACKER, time: at(120), path: smtp('tenant-0010') }),
  ];
}

/**
 * Tenants as ingestion stores them (by the templates configured at the time), or none: events
 * stored before the templates were configured, which assessment must classify path by path.
 */
const tenancies = [
  {
    tenants: 'stored at ingestion',
    tenantOf: (path: string | null | undefined) => (path ? (matcher.match(path)?.tenant ?? null) : null),
  },
  { tenants: 'not stored (templates changed since)', tenantOf: () => null },
];
const matcher = new PathTemplateMatcher(config.tenancy.paths);

describe.each(backends.flatMap((b) => tenancies.map((t) => ({ ...b, ...t }))))(
  'assess on $name, tenants $tenants',
  ({ open, tenantOf }) => {
    let store: Store;
    let cleanup: () => Promise<void>;
    let result: BreachAssessment;

    beforeAll(async () => {
      const opened = await open();
      cleanup = opened.cleanup;
      store = await Store.open(opened.url);
      await insertRows(
        store,
        scenario().map((row) => ({ ...row, tenant: tenantOf(row.path) })),
      );
      result = await assess(
        { since: new Date(Date.parse(at(0))), until: new Date(Date.parse(at(60))) },
        { analysis: store.auditAnalysis, config, logger: silentLogger() },
      );
    });
    afterAll(async () => {
      await store?.close();
      await cleanup?.();
    });

    it('names exactly the tenants the implicated actors read, without the excluded one', () => {
      expect(result.affected_tenants).toEqual(['tenant-0004', 'tenant-0005', 'tenant-0006', 'tenant-0007']);
      expect(result.excluded_tenants_read).toEqual(['test-tenant-id']);
      expect(result.breach_scope).toBe('limited');
      expect(result.accessed_secrets).toBe(5);
      expect(result.secrets.find((s) => s.path === smtp('tenant-0004'))).toEqual({
        path: smtp('tenant-0004'),
        reads: 2,
        tenant: 'tenant-0004',
      });
    });

    it('fires each rule on its events and only there', () => {
      const fired = Object.fromEntries(result.rules.map((r) => [r.id, r.events]));
      expect(fired).toEqual({
        'permission-denied': 1,
        'request-error': 1,
        'login-failure': 6,
        'login-burst': 6,
        'root-token': 2,
        'many-tenants': 1,
        'new-address': 3,
        'sys-change': 1,
        'token-long-ttl': 1,
        // No containment recorded a revoked accessor in this store: the tripwire has nothing to match.
        'revoked-token-use': 0,
      });
      expect(result.suspicious.find((s) => s.rule === 'sys-change')?.explanation).toMatch(/policy written/);
      expect(result.suspicious.find((s) => s.rule === 'token-long-ttl')?.explanation).toMatch(
        /never expires/,
      );
      expect(result.breach_detected_at).toBe(at(10));
    });

    it('describes the attacker, and leaves the application that only failed once out', () => {
      const evil = result.actors.find((a) => a.accessor === 'acc-evil');
      expect(evil).toMatchObject({
        reads: 6,
        denied: 1,
        tenants: ['tenant-0004', 'tenant-0005', 'tenant-0006', 'tenant-0007'],
        remote_addresses: ['203.0.113.9'],
        first_seen: at(10),
        rules: ['permission-denied', 'many-tenants', 'new-address'],
      });
      expect(result.actors.find((a) => a.accessor === 'acc-mailer')).toBeUndefined();
      expect(result.actors.find((a) => a.actor === 'address:198.51.100.7')).toMatchObject({
        accessor: null,
        reads: 0,
        rules: ['login-failure', 'login-burst', 'new-address'],
      });
      expect(result.actors.find((a) => a.accessor === 'acc-root')?.rules).toEqual([
        'root-token',
        'new-address',
        'sys-change',
        'token-long-ttl',
      ]);
    });

    it('counts distinct events, reports accessor hashing and what the log cannot show', () => {
      // 1 denied + 1 error + 6 failed-login responses + 2 root requests + 2 root responses (policy, token)
      // + 2 first requests from new addresses (root's first request is already counted) + 1 aggregate.
      expect(result.suspicious_events).toBe(15);
      expect(result.events_examined).toBe(scenario().length - 4);
      expect(result.accessors_hmac).toBe('none');
      expect(result.not_audited.join(' ')).toMatch(/sys\/seal/);
      // Assessed from the store alone (no Vault to read policies with): could-read says it did not look.
      expect(result.notes).toEqual([
        'could-read not evaluated (no Vault token to read the policies with): at_risk_tenants lists nothing, which is not "none at risk"',
      ]);
      expect(result.at_risk_tenants).toEqual([]);
    });

    it('assesses a window that is a small part of the store alike (read through the time index)', async () => {
      // Last: it adds to the store. A month after the window, 400 calls by the attacker's token.
      await insertRows(
        store,
        Array.from({ length: 400 }, (_, i) =>
          auditCall({ ...ATTACKER, time: at(43_200 + i), path: smtp(`tenant-${1000 + i}`) }),
        )
          .flat()
          .map((row) => ({ ...row, tenant: tenantOf(row.path) })),
      );
      const again = await assess(
        { since: new Date(Date.parse(at(0))), until: new Date(Date.parse(at(60))) },
        { analysis: store.auditAnalysis, config, logger: silentLogger() },
      );
      expect(again).toEqual(result);
    });

    it('says so when there is no history to call an address new', async () => {
      const early = await assess(
        { since: new Date(Date.parse(at(-1000))), until: new Date(Date.parse(at(60))) },
        { analysis: store.auditAnalysis, config, logger: silentLogger() },
      );
      expect(early.rules.find((r) => r.id === 'new-address')?.events).toBe(0);
      expect(early.notes.join(' ')).toMatch(/no events stored before the window/);
      expect(early.affected_tenants).toEqual(['tenant-0004', 'tenant-0005', 'tenant-0006', 'tenant-0007']);
    });
  },
);
