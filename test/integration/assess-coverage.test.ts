import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { BreachAssessment } from '../../src/assess/assess.service.js';
import { loadConfig } from '../../src/config/load.js';
import { silentLogger } from '../../src/logging/logger.js';
import { buildReport, renderMarkdown } from '../../src/playbook/report.js';
import { createAssessStep } from '../../src/respond/steps/assess.step.js';
import { Store } from '../../src/store/store.js';
import { VaultClient } from '../../src/vault/client.js';
import { ROOT, runCli } from '../harness/cli.js';

/** A real OpenBao 2.7.2 audit log: its first event is at 2026-11-24T22:18:22.750741595Z. */
const AUDIT_LOG = join(ROOT, 'test', 'fixtures', 'audit', 'openbao-2.7.2.jsonl');
const FIRST_EVENT = '2026-11-24T22:18:22.750Z';
const SINCE = '2026-11-24T20:00:00.000Z';
const UNTIL = '2026-11-25T00:00:00.000Z';
const EMPTY_MESSAGE =
  `no audit events stored between ${SINCE} and ${UNTIL}: ingest the audit log first — ` +
  'sealwatch audit ingest FILE, or audit follow / listen';

describe('assess over a window the store does not cover, through the built CLI', () => {
  let dir: string;
  let emptyStore: string;
  let lateStore: string;
  const assessCli = (store: string, ...args: string[]) =>
    runCli(['assess', '--store', store, '--since', SINCE, '--until', UNTIL, ...args], { cwd: dir });

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'sealwatch-coverage-'));
    emptyStore = join(dir, 'empty.db');
    lateStore = join(dir, 'late.db');
    const ingest = await runCli(['audit', 'ingest', AUDIT_LOG, '--store', lateStore], { cwd: dir });
    expect(ingest.code, ingest.stderr).toBe(0);
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('an empty store: says it could not assess before anything else, and is no pass', async () => {
    const text = await assessCli(emptyStore);
    expect(text.code, text.stderr).toBe(0);
    expect(text.stdout.split('\n')[0]).toBe(`could not assess: ${EMPTY_MESSAGE}`);
    expect(text.stdout).not.toMatch(/affected tenants|suspicious events/);

    const json = await assessCli(emptyStore, '--json');
    expect(json.code, json.stderr).toBe(0);
    const result = json.json<BreachAssessment>();
    expect(result).toMatchObject({
      events_examined: 0,
      could_not_assess: EMPTY_MESSAGE,
      data_since: null,
      window: { since: SINCE, until: UNTIL },
      // Existing fields keep their shape.
      suspicious_events: 0,
      affected_tenants: [],
      breach_scope: 'limited',
    });

    for (const args of [
      ['--fail-on', 'low'],
      ['--fail-on', 'critical', '--json'],
    ]) {
      const gated = await assessCli(emptyStore, ...args);
      expect(gated.code, `${args.join(' ')}: ${gated.stderr}`).toBe(3);
    }
  });

  it('a store whose events start after --since: says from when it has data', async () => {
    const text = await assessCli(lateStore);
    expect(text.code, text.stderr).toBe(0);
    const lines = text.stdout.split('\n');
    expect(lines[0]).toMatch(new RegExp(`^window .*${SINCE} \\.\\. ${UNTIL} \\(22 events\\)$`));
    expect(lines[1]).toBe(`data only from     ${FIRST_EVENT}: nothing before it was looked at`);

    const result = (await assessCli(lateStore, '--json')).json<BreachAssessment>();
    expect(result.events_examined).toBe(22);
    expect(result.could_not_assess).toBeNull();
    expect(result.data_since).toBe(FIRST_EVENT);
    expect(result.notes).toContain(
      `audit events are stored only from ${FIRST_EVENT} (the window starts at ${SINCE}): nothing before ${FIRST_EVENT} was looked at — ` +
        'ingest the earlier audit log (sealwatch audit ingest FILE) to cover it',
    );
    // Partial coverage is said, not failed: the gate follows the findings as before.
    const critical = result.rules.some((r) => r.events > 0 && r.severity === 'critical');
    expect((await assessCli(lateStore, '--fail-on', 'critical')).code).toBe(critical ? 3 : 0);

    // A window that starts with the data says nothing about coverage.
    const covered = await runCli(
      ['assess', '--json', '--store', lateStore, '--since', FIRST_EVENT, '--until', UNTIL],
      { cwd: dir },
    );
    expect(covered.json<BreachAssessment>().notes.join('\n')).not.toMatch(/stored only from/);
  });

  it("the breach playbook's assess step records that it saw nothing, and the report says so", async () => {
    const store = await Store.open(join(dir, 'playbook.db'));
    try {
      const step = createAssessStep({
        store,
        config: loadConfig({}, {}, dir),
        logger: silentLogger(),
        // Never asked: an empty window has no reader to tell the responder's token from.
        vault: new VaultClient({
          addresses: ['http://127.0.0.1:1'],
          timeoutMs: 1_000,
          retries: 0,
          maxConnections: 1,
          logger: silentLogger(),
        }),
      });
      const outcome = await step.run({
        incidentId: 'inc-empty',
        logger: silentLogger(),
        signal: new AbortController().signal,
        outputs: {},
        options: { since: SINCE, audit_logs: [], suspects: [], scope: 'implicated' },
        progress: () => undefined,
      });
      expect(outcome.evidence['events_examined']).toBe(0);
      expect(outcome.evidence['could_not_assess']).toMatch(/^no audit events stored between /);
      expect(outcome.outputs?.['could_not_assess']).toBe(outcome.evidence['could_not_assess']);

      const report = buildReport({
        incident: {
          id: 'inc-empty',
          type: 'breach',
          severity: 'critical',
          declared_by: 'test',
          created_at: SINCE,
          updated_at: UNTIL,
          completed_at: UNTIL,
          state: 'completed',
          options: {},
          owner: null,
        },
        steps: [
          {
            incident_id: 'inc-empty',
            step_id: 'assess',
            position: 0,
            title: step.title,
            status: 'done',
            needs_approval: false,
            started_at: SINCE,
            attempt_started_at: SINCE,
            ended_at: SINCE,
            measured_seconds: 1,
            target_seconds: step.targetSeconds,
            evidence: outcome.evidence,
            verify_evidence: null,
            outputs: outcome.outputs ?? null,
            error: null,
            attempts: 1,
          },
        ],
        events: [],
      });
      expect(report.could_not_assess).toMatch(/^no audit events stored between /);
      expect(report.follow_ups.join('\n')).toMatch(/The assessment saw no audit event since /);
      const markdown = renderMarkdown(report);
      expect(markdown).toMatch(/## Affected tenants\n\nNot assessed: no audit events stored between /);
      expect(markdown).not.toMatch(/## Affected tenants\n\nNone recorded\./);
    } finally {
      await store.close();
    }
  });
});
