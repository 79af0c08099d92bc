import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/load.js';
import { silentLogger } from '../../src/logging/logger.js';
import { createIncidents } from '../../src/playbook/incident.service.js';
import { approveAll } from '../../src/playbook/playbook.engine.js';
import { breachOptionsSchema, breachPlaybook } from '../../src/respond/breach.playbook.js';
import type { AlertRecord } from '../../src/store/repositories/alerts.repository.js';
import { Store } from '../../src/store/store.js';
import type { VaultClient } from '../../src/vault/client.js';
import {
  autoResponseIncidentId,
  createAutoResponder,
  type AutoResponseDeps,
} from '../../src/watch/auto-response.js';
import { startTestLab, type TestLab } from '../harness/bao-lab.js';
import { PLAYBOOKS } from '../../src/cli/playbooks.js';

const detection = (rule: string, accessor: string, startedAt = new Date().toISOString()): AlertRecord => ({
  // As the lifecycle makes them: hex digits of a hash over the rule and labels.
  fingerprint: createHash('sha256').update(`${rule}\0${accessor}`).digest('hex').slice(0, 16),
  rule,
  severity: 'critical',
  state: 'firing',
  labels: { accessor },
  summary: `token ${accessor} used after containment`,
  runbook: null,
  started_at: startedAt,
  fired_at: startedAt,
  resolved_at: null,
  last_seen_at: startedAt,
  last_notified_at: null,
  notified_state: null,
  acked_by: null,
  acked_at: null,
  silenced_by: null,
});

/**
 * Automatic response against a real OpenBao: the accessor named by a detection alert is revoked
 * for real (a lookup of the token fails after), journalled as an incident step; nothing happens
 * with the switch off; the responder's and the watch's own tokens are refused.
 */
describe('watch automatic response', () => {
  let lab: TestLab;
  let vault: VaultClient;
  let store: Store;
  let dir: string;
  const logger = silentLogger();

  const responder = (over: Partial<AutoResponseDeps>) => {
    const incidents = createIncidents({ store, logger, playbooks: PLAYBOOKS });
    return createAutoResponder({ actions: {}, vault, store, incidents, logger, ...over });
  };
  const newToken = async () => {
    const auth = await vault.tokenCreate({ policies: ['default'], ttl: '1h' }, { orphan: true });
    return { token: auth.client_token, accessor: auth.accessor };
  };
  /** Whether the token still answers its own lookup (a client holding it). */
  const stillValid = (token: string) =>
    vault.tokenLookupSelf(token).then(
      () => true,
      () => false,
    );

  beforeAll(async () => {
    lab = await startTestLab({ nodes: 1, tenants: 1 });
    vault = lab.client();
    dir = mkdtempSync(join(tmpdir(), 'sealwatch-auto-'));
    store = await Store.open(join(dir, 'sealwatch.db'));
  }, 180_000);
  afterAll(async () => {
    await store?.close();
    await lab?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('with the switch off for the rule, nothing happens', async () => {
    const { token, accessor } = await newToken();
    const alert = detection('revoked-token-use', accessor);
    // Another rule is switched on: this one is not.
    const result = await responder({ actions: { 'root-token-use': 'revoke-accessor' } }).respondTo(alert);
    expect(result.outcome).toBe('off');
    expect(await stillValid(token)).toBe(true);
    expect(await store.incidents.list()).toEqual([]);
  }, 30_000);

  it('revoke-accessor revokes the token for real, journalled as an incident step, once per alert', async () => {
    const { token, accessor } = await newToken();
    expect(await stillValid(token)).toBe(true);
    const alert = detection('revoked-token-use', accessor);
    const r = responder({ actions: { 'revoked-token-use': 'revoke-accessor' } });
    await r.onDetection(alert);
    expect(await stillValid(token)).toBe(false);
    await expect(vault.tokenLookupAccessor(accessor)).rejects.toThrow();

    const id = autoResponseIncidentId(alert);
    const incident = await store.incidents.get(id);
    expect(incident).toMatchObject({ type: 'watch-auto-response', state: 'completed' });
    const [step] = await store.incidents.steps(id);
    expect(step).toMatchObject({ step_id: 'revoke-accessor', status: 'done' });
    expect(JSON.stringify(step)).toContain(accessor);
    expect(JSON.stringify(step)).not.toContain(token);
    const events = (await store.incidents.events(id)).map((e) => e.event);
    expect(events).toEqual(expect.arrayContaining(['step_started', 'step_ran', 'step_verified']));

    // The same alert again (a restart, a takeover): nothing more is done.
    expect((await r.respondTo(alert)).outcome).toBe('already');
    expect((await store.incidents.list()).filter((i) => i.id === id)).toHaveLength(1);
  }, 30_000);

  it('revoke-accessor finds the live token behind an HMAC-ed accessor label (the audit default) and revokes it', async () => {
    const { token, accessor } = await newToken();
    const device = (await vault.listAuditDevices())[0]!;
    const hashed = await vault.auditHash(device.path, accessor);
    expect(hashed).toMatch(/^hmac-sha256:/);
    const alert = detection('many-tenants', hashed);
    await responder({ actions: { 'many-tenants': 'revoke-accessor' } }).onDetection(alert);
    expect(await stillValid(token)).toBe(false);
    const [step] = await store.incidents.steps(autoResponseIncidentId(alert));
    expect(step).toMatchObject({ step_id: 'revoke-accessor', status: 'done' });
    expect(JSON.stringify(step)).toContain(accessor);
    // An HMAC no live token has fails the step, saying why, and revokes nothing.
    const bystander = await newToken();
    const ghost = detection('many-tenants', `hmac-sha256:${'0'.repeat(64)}`);
    const result = await responder({ actions: { 'many-tenants': 'revoke-accessor' } }).respondTo(ghost);
    expect(result.outcome).toBe('failed');
    expect(JSON.stringify(await store.incidents.events(autoResponseIncidentId(ghost)))).toMatch(
      /no live token/,
    );
    expect(await stillValid(bystander.token)).toBe(true);
  }, 60_000);

  it("refuses to revoke the responder's own token or the watch's, and says so in the journal", async () => {
    const self = await vault.tokenLookupSelf();
    const watchToken = await newToken();
    const r = responder({
      actions: { 'revoked-token-use': 'revoke-accessor' },
      protectedAccessors: [watchToken.accessor],
    });
    const own = await r.respondTo(detection('revoked-token-use', self.accessor));
    expect(own).toMatchObject({ outcome: 'refused' });
    expect(own.message).toMatch(/refused to revoke accessor .+: it is the responder's own token/);
    const watch = await r.respondTo(detection('revoked-token-use', watchToken.accessor));
    expect(watch.message).toMatch(/it is the watch's own token/);
    expect(await stillValid(watchToken.token)).toBe(true);
    expect(await stillValid(lab.lab().root_token)).toBe(true);
    const [step] = await store.incidents.steps(own.incident!);
    expect(step).toMatchObject({ step_id: 'revoke-accessor', status: 'skipped' });
    expect(JSON.stringify(step)).toContain("the responder's own token");
  }, 30_000);

  it('a response that failed (the responder may not revoke) is journalled failed and finished by incident resume', async () => {
    const { token, accessor } = await newToken();
    // A responder token with the default policy only: it may look itself up, not revoke others.
    const weak = await newToken();
    const weakVault = lab.client();
    weakVault.setToken(weak.token);
    const alert = detection('revoked-token-use', accessor);
    const result = await responder({
      actions: { 'revoked-token-use': 'revoke-accessor' },
      vault: weakVault,
    }).respondTo(alert);
    expect(result.outcome).toBe('failed');
    expect(await stillValid(token)).toBe(true);
    const id = autoResponseIncidentId(alert);
    expect(await store.incidents.get(id)).toMatchObject({ state: 'failed' });
    expect((await store.incidents.steps(id))[0]).toMatchObject({ status: 'failed' });

    // The operator resumes it with a client that may: the playbook is rebuilt from the journal.
    const config = loadConfig({ config: lab.configFile, store: join(dir, 'sealwatch.db') }, {});
    const incidents = createIncidents({
      store,
      logger,
      playbooks: PLAYBOOKS,
      playbookDeps: () => ({ vault, store, config, logger }),
    });
    const resumed = await incidents.resume(id, { approve: approveAll('test') });
    expect(resumed.state).toBe('completed');
    expect(await stillValid(token)).toBe(false);
    expect((await store.incidents.steps(id))[0]).toMatchObject({ status: 'done', attempts: 2 });
  }, 30_000);

  it('open-incident declares a breach incident (not run) with the respond breach dry-run plan journalled', async () => {
    const { token, accessor } = await newToken();
    const config = loadConfig({ config: lab.configFile, store: join(dir, 'sealwatch.db') }, {});
    const alert = detection('root-token-use', accessor);
    const r = responder({
      actions: { 'root-token-use': 'open-incident' },
      breach: async (request) => {
        const options = breachOptionsSchema.parse(request);
        return { steps: await breachPlaybook({ vault, store, config, logger }, options), options };
      },
    });
    const result = await r.respondTo(alert);
    expect(result, result.message).toMatchObject({ outcome: 'done' });
    const [step] = await store.incidents.steps(result.incident!);
    expect(step).toMatchObject({ step_id: 'open-breach-incident', status: 'done' });
    const outputs = step!.outputs as {
      breach_incident: string;
      plan: { steps: { id: string; actions: unknown[]; could_not_plan?: string }[] };
    };
    const planned = outputs.plan.steps;
    expect(planned.map((s) => s.id)).toEqual(expect.arrayContaining(['contain', 'rotate']));
    expect(planned.find((s) => s.id === 'contain')!.actions.length).toBeGreaterThan(0);
    // watch holds no key shares: the rekey step says it could not be planned, and why.
    expect(planned.find((s) => s.id === 'rekey')!.could_not_plan).toMatch(/new shares need a destination/);
    const breach = await store.incidents.get(outputs.breach_incident);
    // Declared for the on-call, never run by watch: nothing was contained or revoked.
    expect(breach).toMatchObject({ type: 'breach', state: 'declared', severity: 'critical' });
    expect(breach!.options).toMatchObject({ suspects: [`accessor:${accessor}`] });
    expect(await stillValid(token)).toBe(true);
  }, 60_000);
});
