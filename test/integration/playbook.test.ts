import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { silentLogger } from '../../src/logging/logger.js';
import { createIncidents } from '../../src/playbook/incident.service.js';
import { approveAll } from '../../src/playbook/playbook.engine.js';
import type { IncidentReport } from '../../src/playbook/report.js';
import type { IncidentStep } from '../../src/store/repositories/incident.repository.js';
import { Store } from '../../src/store/store.js';
import type { VaultClient } from '../../src/vault/client.js';
import { startTestLab, type TestLab } from '../harness/bao-lab.js';
import { ROOT, runCli } from '../harness/cli.js';
import { createKvSteps, kvPlaybook, KV_STEPS } from '../fixtures/playbook/kv.playbook.js';

const WRAPPER = join(ROOT, 'test/fixtures/playbook/sealwatch-test.ts');
const CONTRACT_KEYS = [
  'incident_id',
  'state',
  'rto_seconds',
  'steps',
  'affected_tenants',
  'rotation',
  'notifications',
];

interface Run {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/**
 * The playbook engine against a real OpenBao lab. Every step of the test playbook writes one KV
 * version per run, so "not run again" is counted in OpenBao, not inferred from the journal.
 */
describe('playbook engine on a real OpenBao', () => {
  let lab: TestLab;
  let vault: VaultClient;
  let dir: string;
  let seq = 0;

  beforeAll(async () => {
    lab = await startTestLab({ nodes: 1, tenants: 5 });
    vault = lab.client();
    dir = mkdtempSync(join(tmpdir(), 'sealwatch-playbook-'));
  }, 180_000);
  afterAll(async () => {
    await lab?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  /** A fresh KV area and store per test. */
  const fresh = async () => {
    const n = ++seq;
    const base = `playbook-test/t${n}`;
    const kv = vault.kv('secret');
    await kv.write(`${base}/victim`, { owner: 'someone' });
    const canary = `CANARY-${n}-${Math.random().toString(36).slice(2)}-value`;
    await kv.write(`${base}/canary`, { password: canary });
    return { base, kv, canary, store: join(dir, `store-${n}.db`) };
  };

  /** How many times each step really ran: the current version of its run counter in OpenBao. */
  const runsIn = async (base: string) => {
    const kv = vault.kv('secret');
    const counts: Record<string, number> = {};
    for (const step of KV_STEPS)
      counts[step] = (await kv.readMetadata(`${base}/runs/${step}`))?.current_version ?? 0;
    return counts;
  };

  const spawnWrapper = (args: string[], store: string) =>
    spawn(
      process.execPath,
      ['--import', 'tsx', WRAPPER, ...args, '--config', lab.configFile, '--store', store],
      {
        // tsx resolves from the repository; --config and --store are absolute.
        cwd: ROOT,
        stdio: ['pipe', 'pipe', 'pipe'],
      },
    );

  const cli = (
    args: string[],
    store: string,
    options: { killWhen?: () => Promise<boolean>; sigint?: boolean } = {},
  ) =>
    new Promise<Run>((resolve, reject) => {
      const child = spawnWrapper(args, store);
      child.stdin.end();
      let stdout = '';
      let stderr = '';
      child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
      child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
      let polling = Boolean(options.killWhen);
      if (options.killWhen)
        void (async () => {
          while (polling) {
            if (await options.killWhen!().catch(() => false)) {
              child.kill(options.sigint ? 'SIGINT' : 'SIGKILL');
              return;
            }
            await sleep(50);
          }
        })();
      child.on('error', reject);
      child.on('close', (code, signal) => {
        polling = false;
        resolve({ code, signal, stdout, stderr });
      });
    });

  const journal = async <T>(store: string, read: (s: Store) => Promise<T>) => {
    const s = await Store.open(store);
    try {
      return await read(s);
    } finally {
      await s.close();
    }
  };

  const stepIn = async (store: string, stepId: string): Promise<IncidentStep | undefined> =>
    journal(store, async (s) => {
      const latest = (await s.incidents.list(1))[0];
      return latest ? (await s.incidents.steps(latest.id)).find((r) => r.step_id === stepId) : undefined;
    });

  it('journals each step as running before it runs and done with evidence after, in order', async () => {
    const { base, store: file } = await fresh();
    const store = await Store.open(file);
    try {
      const incidents = createIncidents({
        store,
        logger: silentLogger(),
        playbooks: { 'kv-test': kvPlaybook },
      });
      const options = { base, slowMs: 10 };
      const seen: IncidentStep[][] = [];
      const steps = createKvSteps({ vault }, options).map((step) => ({
        ...step,
        run: async (ctx: Parameters<typeof step.run>[0]) => {
          seen.push(await store.incidents.steps(ctx.incidentId));
          return step.run(ctx);
        },
      }));
      const incident = await incidents.declare({ type: 'kv-test', steps, options, declaredBy: 'alice' });
      expect(incident.id).toMatch(/^inc-\d{8}-[0-9a-f]{4}$/);
      expect((await store.incidents.steps(incident.id)).map((s) => s.status)).toEqual(
        KV_STEPS.map(() => 'pending'),
      );

      const result = await incidents.run(incident.id, steps, { approve: approveAll('test') });
      expect(result.state).toBe('completed');
      // Inside step i's run: its row says running (attempt 1, start time), every earlier one is done.
      seen.forEach((rows, i) => {
        expect(rows[i]).toMatchObject({ status: 'running', attempts: 1, ended_at: null });
        expect(rows[i]!.attempt_started_at).not.toBeNull();
        for (const earlier of rows.slice(0, i)) {
          expect(earlier.status).toBe('done');
          expect(earlier.ended_at! >= earlier.started_at!).toBe(true);
          expect(earlier.measured_seconds).toBeGreaterThanOrEqual(0);
          expect(earlier.evidence).not.toBeNull();
        }
        for (const later of rows.slice(i + 1)) expect(later.status).toBe('pending');
      });
      expect(await runsIn(base)).toEqual({ preserve: 1, assess: 1, slow: 1, gate: 1, notify: 1 });
      expect(await vault.kv('secret').exists(`${base}/victim`)).toBe(false);

      const rows = await store.incidents.steps(incident.id);
      expect(rows.find((r) => r.step_id === 'gate')).toMatchObject({
        status: 'done',
        evidence: { deleted: 1 },
        verify_evidence: { victim_gone: true },
      });
      const events = (await store.incidents.events(incident.id)).map((e) => `${e.step_id ?? '-'}:${e.event}`);
      expect(events.slice(0, 5)).toEqual([
        '-:declared',
        '-:started',
        'preserve:step_started',
        'preserve:step_ran',
        'preserve:step_done',
      ]);
      expect(events).toContain('gate:approval_requested');
      expect(events).toContain('gate:approved');
      expect(events).toContain('gate:step_verified');
      expect(events.at(-1)).toBe('-:completed');
      const detail = await store.incidents.get(incident.id);
      expect(detail).toMatchObject({ state: 'completed', declared_by: 'alice', owner: null });

      // A second run of a completed incident runs nothing.
      expect((await incidents.run(incident.id, steps, { approve: approveAll() })).state).toBe('completed');
      expect((await runsIn(base)).preserve).toBe(1);
    } finally {
      await store.close();
    }
  });

  it('--dry-run prints the plan as data and changes nothing', async () => {
    const { base, store } = await fresh();
    const run = await cli(['start', '--base', base, '--dry-run', '--json'], store);
    expect(run.code, run.stderr).toBe(0);
    const { plan } = JSON.parse(run.stdout) as {
      plan: {
        steps: {
          id: string;
          needs_approval: boolean;
          actions: { action: string; destructive?: boolean }[];
        }[];
        target_seconds: number;
      };
    };
    expect(plan.steps.map((s) => s.id)).toEqual([...KV_STEPS]);
    expect(plan.steps.find((s) => s.id === 'gate')).toMatchObject({
      needs_approval: true,
      actions: [{ destructive: true }],
    });
    expect(plan.target_seconds).toBe(60 + 600 + 1 + 300 + 60);
    expect(await runsIn(base)).toEqual({ preserve: 0, assess: 0, slow: 0, gate: 0, notify: 0 });
    expect(await vault.kv('secret').exists(`${base}/victim`)).toBe(true);
    expect(await journal(store, (s) => s.incidents.list())).toEqual([]);
  });

  it('without --yes and without a terminal it stops before the step that needs approval, resumable', async () => {
    const { base, store } = await fresh();
    const first = await cli(['start', '--base', base], store);
    expect(first.code).toBe(1);
    expect(first.stderr).toContain('step gate needs approval: rerun with --yes or on a terminal');
    const before = await journal(store, async (s) => {
      const incident = (await s.incidents.list())[0]!;
      return { incident, steps: await s.incidents.steps(incident.id) };
    });
    expect(before.incident.state).toBe('waiting_approval');
    expect(before.steps.map((s) => s.status)).toEqual(['done', 'done', 'done', 'pending', 'pending']);
    expect(await vault.kv('secret').exists(`${base}/victim`)).toBe(true);

    const resumed = await cli(['incident', 'resume', '--last', '--yes', '--json'], store);
    expect(resumed.code, resumed.stderr).toBe(0);
    const report = JSON.parse(resumed.stdout) as IncidentReport;
    expect(report).toMatchObject({ incident_id: before.incident.id, state: 'completed' });
    expect(await runsIn(base)).toEqual({ preserve: 1, assess: 1, slow: 1, gate: 1, notify: 1 });
    expect(await vault.kv('secret').exists(`${base}/victim`)).toBe(false);
  });

  it('a failing step stops the playbook; resume retries it and only it; no secret reaches journal or report', async () => {
    const { base, kv, canary, store } = await fresh();
    await kv.write(`${base}/fail`, { reason: 'downstream refuses' });
    const first = await cli(['start', '--base', base, '--yes', '--declared-by', 'bob'], store);
    expect(first.code).toBe(1);
    expect(first.stderr).toMatch(
      /step gate failed: refused by secret\/playbook-test\/t\d+\/fail while holding \[redacted\]/,
    );
    const failed = await journal(store, async (s) => {
      const incident = (await s.incidents.list())[0]!;
      return { incident, steps: await s.incidents.steps(incident.id) };
    });
    expect(failed.incident.state).toBe('failed');
    expect(failed.steps.map((s) => s.status)).toEqual(['done', 'done', 'done', 'failed', 'pending']);
    expect(failed.steps[3]!.error).toContain('[redacted]');
    expect(await runsIn(base)).toEqual({ preserve: 1, assess: 1, slow: 1, gate: 1, notify: 0 });
    expect(await kv.exists(`${base}/victim`)).toBe(true);

    await kv.deleteAll(`${base}/fail`);
    const resumed = await cli(['incident', 'resume', failed.incident.id, '--yes'], store);
    expect(resumed.code, resumed.stderr).toBe(0);
    expect(await runsIn(base)).toEqual({ preserve: 1, assess: 1, slow: 1, gate: 2, notify: 1 });

    const outputs: string[] = [first.stdout, first.stderr, resumed.stdout, resumed.stderr];
    for (const format of ['md', 'html', 'json']) {
      const r = await cli(['incident', 'report', failed.incident.id, '--format', format], store);
      expect(r.code, r.stderr).toBe(0);
      outputs.push(r.stdout);
    }
    const shown = await cli(['incident', 'show', failed.incident.id, '--json'], store);
    outputs.push(shown.stdout);
    const json = JSON.parse(outputs[6]!) as IncidentReport;
    expect(json.steps.find((s) => s.id === 'gate')).toMatchObject({
      status: 'done',
      measured_seconds: expect.any(Number),
    });
    expect(json.steps.find((s) => s.id === 'assess')!.evidence).toMatchObject({
      password: '[redacted]',
      tenants_seen: expect.any(Number),
    });
    expect(json.declared_by).toBe('bob');
    expect(json.follow_ups).toContain('Tell the owner of victim it is gone.');
    expect(json.actions).toContainEqual({ step: 'gate', action: 'deleted', count: 1 });

    for (const text of outputs) expect(text).not.toContain(canary);
    // The database itself, every byte of it (and its write-ahead log).
    for (const file of [store, `${store}-wal`])
      if (existsSync(file)) expect(readFileSync(file).includes(Buffer.from(canary))).toBe(false);
    expect(readFileSync(store).includes(Buffer.from('[redacted]'))).toBe(true);
  });

  it('SIGKILL inside a slow step: resume runs that step again, never the finished ones, and reports every step', async () => {
    const { base, store } = await fresh();
    const killed = await cli(['start', '--base', base, '--yes', '--slow-ms', '4000'], store, {
      // Killed once the slow step has really begun its work (its run is counted), not merely been
      // journalled as running: between the two a loaded machine can take its time.
      killWhen: async () =>
        (await stepIn(store, 'slow'))?.status === 'running' && (await runsIn(base))['slow'] === 1,
    });
    expect(killed.signal).toBe('SIGKILL');
    expect(await runsIn(base)).toEqual({ preserve: 1, assess: 1, slow: 1, gate: 0, notify: 0 });
    const cut = await journal(store, async (s) => (await s.incidents.latestUnfinished())!);
    expect(cut.state).toBe('running');
    expect(cut.owner).not.toBeNull(); // the dead process still holds it: resume must take it over

    const resumed = await cli(['incident', 'resume', '--last', '--yes', '--json'], store);
    expect(resumed.code, resumed.stderr).toBe(0);
    expect(resumed.stderr).toContain('cut off');
    expect(await runsIn(base)).toEqual({ preserve: 1, assess: 1, slow: 2, gate: 1, notify: 1 });
    expect(await vault.kv('secret').exists(`${base}/victim`)).toBe(false);

    const report = JSON.parse(resumed.stdout) as IncidentReport;
    for (const key of CONTRACT_KEYS) expect(report).toHaveProperty(key);
    expect(report.state).toBe('completed');
    expect(report.steps.map((s) => s.id)).toEqual([...KV_STEPS]);
    for (const step of report.steps) {
      expect(Object.keys(step)).toEqual(
        expect.arrayContaining(['id', 'title', 'status', 'target_seconds', 'measured_seconds', 'evidence']),
      );
      expect(step.status).toBe('done');
      expect(step.started_at).not.toBeNull();
      expect(step.measured_seconds).toBeGreaterThanOrEqual(0);
    }
    const slow = report.steps.find((s) => s.id === 'slow')!;
    expect(slow.attempts).toBe(2);
    expect(slow.measured_seconds).toBeGreaterThanOrEqual(3.9);
    expect(report.affected_tenants).toHaveLength(2);
    expect(report.notifications).toEqual({ sent: 2, failed: 0 });
    expect(report.rotation).toBeNull();
    expect(report.rto_seconds).toBeGreaterThanOrEqual(slow.measured_seconds!);
    expect(report.timeline.map((e) => e.event)).toContain('resumed');

    const md = await cli(['incident', 'report', report.incident_id], store);
    expect(md.stdout).toContain('## Timeline');
    for (const step of report.steps) expect(md.stdout).toContain(`\`${step.id}\``);
    expect(md.stdout).toMatch(
      /\| 3 \| Slow step \(`slow`\) \| done \| .+ \| [\d.]+ s \| 1 s \| over by .+ \| 2 \|/,
    );
  });

  it('SIGINT stops at the step boundary as interrupted; resume finishes', async () => {
    const { base, store } = await fresh();
    const stopped = await cli(['start', '--base', base, '--yes', '--slow-ms', '3000'], store, {
      // Killed once the slow step has really begun its work (its run is counted), not merely been
      // journalled as running: between the two a loaded machine can take its time.
      killWhen: async () =>
        (await stepIn(store, 'slow'))?.status === 'running' && (await runsIn(base))['slow'] === 1,
      sigint: true,
    });
    expect(stopped.code).toBe(1);
    expect(stopped.stderr).toContain('interrupted in step slow');
    const incident = await journal(store, async (s) => (await s.incidents.list())[0]!);
    expect(incident.state).toBe('interrupted');
    expect((await stepIn(store, 'slow'))?.status).toBe('pending');
    expect((await runsIn(base)).gate).toBe(0);

    const resumed = await cli(['incident', 'resume', incident.id, '--yes'], store);
    expect(resumed.code, resumed.stderr).toBe(0);
    expect(await runsIn(base)).toEqual({ preserve: 1, assess: 1, slow: 2, gate: 1, notify: 1 });
  });

  it('the sealwatch CLI lists and reports any incident, and says when it cannot rebuild a playbook', async () => {
    const { base, store } = await fresh();
    await cli(['start', '--base', base], store); // stops at the approval
    const listed = await runCli(
      ['incident', 'list', '--json', '--config', lab.configFile, '--store', store],
      { cwd: lab.dir },
    );
    expect(listed.code, listed.stderr).toBe(0);
    const { incidents } = listed.json<{
      incidents: { id: string; type: string; state: string; severity: string }[];
    }>();
    expect(incidents).toHaveLength(1);
    expect(incidents[0]).toMatchObject({ type: 'kv-test', state: 'waiting_approval', severity: 'critical' });
    const html = await runCli(
      [
        'incident',
        'report',
        incidents[0]!.id,
        '--format',
        'html',
        '--config',
        lab.configFile,
        '--store',
        store,
      ],
      { cwd: lab.dir },
    );
    expect(html.code, html.stderr).toBe(0);
    expect(html.stdout).toMatch(/^<!doctype html>/);
    const resume = await runCli(
      ['incident', 'resume', '--last', '--yes', '--config', lab.configFile, '--store', store],
      { cwd: lab.dir },
    );
    expect(resume.code).toBe(1);
    expect(resume.stderr).toContain('no playbook for incident type kv-test');
    const missing = await runCli(
      ['incident', 'show', 'inc-nope', '--config', lab.configFile, '--store', store],
      { cwd: lab.dir },
    );
    expect(missing.code).toBe(1);
    expect(missing.stderr).toContain('no incident inc-nope');
  });
});
