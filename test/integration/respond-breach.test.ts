import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { simulateAttack } from '../../src/drill/simulated-attack.js';
import { labClient } from '../../src/lab/lab.service.js';
import { labTenantId } from '../../src/lab/layout.js';
import { silentLogger } from '../../src/logging/logger.js';
import type { IncidentReport } from '../../src/playbook/report.js';
import { VaultClient } from '../../src/vault/client.js';
import { PermissionDeniedError } from '../../src/vault/errors.js';
import { waitFor } from '../../src/util/wait.js';
import { startTestLab, type TestLab } from '../harness/bao-lab.js';
import { ROOT, runCli } from '../harness/cli.js';
import { startPostgres, type TestPostgres } from '../harness/postgres.js';

const logger = silentLogger();
// DKIM's RSA-2048 keys cost ~0.2 s of CPU each here; its rotator passes its own contract against BIND.
const KINDS = 'ssh,smtp,apikey,postgres';

interface Before {
  tokens: string[];
  keys: string[];
  term: number;
  attacked: string[];
}

/** Tokens that worked before the incident: application logins, hand-made tokens, the attacker's. */
async function preIncident(lab: TestLab, attacked: string[]): Promise<Before> {
  const root = lab.client();
  const current = lab.lab();
  const tokens: string[] = [];
  for (const app of current.apps) {
    const login = await root.write(
      'auth/approle/login',
      { role_id: app.role_id, secret_id: app.secret_id },
      { token: null },
    );
    tokens.push(login!.auth!.client_token);
  }
  for (const name of ['deploy-bot', 'on-call'])
    tokens.push(
      (await root.tokenCreate({ policies: ['operator'], ttl: '24h', display_name: name })).client_token,
    );
  const probe = Array.from({ length: 2 }, (_, i) => labTenantId(100 + i));
  await simulateAttack(current, { read: attacked, probe }, logger);
  return { tokens, keys: current.unseal_keys, term: (await root.keyStatus()).term, attacked };
}

async function refused(lab: TestLab, token: string): Promise<boolean> {
  const client = new VaultClient({
    addresses: lab.lab().nodes.map((n) => n.address),
    token,
    timeoutMs: 5_000,
    retries: 1,
    maxConnections: 2,
    logger,
  });
  try {
    await client.tokenLookupSelf();
    return false;
  } catch (error) {
    return error instanceof PermissionDeniedError;
  } finally {
    await client.close();
  }
}

/** The end state the procedure promises, checked in the real systems. */
async function expectRecovered(
  lab: TestLab,
  before: Before,
  report: IncidentReport,
  tenants: number,
): Promise<void> {
  expect(report.state).toBe('completed');
  expect(report.steps.map((s) => s.id)).toEqual([
    'preserve',
    'contain',
    'assess',
    'rekey',
    'rotate',
    'notify',
    'recover',
    'report',
  ]);
  for (const step of report.steps) {
    expect(step.status, step.id).toBe('done');
    expect(typeof step.measured_seconds, step.id).toBe('number');
    expect(step.target_seconds, step.id).toBeGreaterThan(0);
  }
  // Exactly the tenants the attacker read, no others.
  expect([...report.affected_tenants].sort()).toEqual([...before.attacked].sort());

  // Every pre-incident token is refused.
  for (const token of before.tokens) expect(await refused(lab, token)).toBe(true);

  const current = lab.lab();
  const root = labClient(current.nodes, current.root_token, logger);
  try {
    // New shares, new root token, barrier key rotated.
    expect(current.unseal_keys.some((k) => before.keys.includes(k))).toBe(false);
    expect((await root.keyStatus()).term).toBeGreaterThan(before.term);

    // Every tenant secret rotated once and current; every API key gone.
    const kv = root.kv('secret');
    for (let i = 0; i < tenants; i++) {
      const tenant = labTenantId(i);
      for (const kind of ['ssh', 'smtp', 'database']) {
        const meta = (await kv.readMetadata(`tenants/${tenant}/${kind}`))!;
        expect(meta.current_version, `${tenant} ${kind}`).toBeGreaterThanOrEqual(2);
        expect(meta.custom_metadata?.['sealwatch_state'], `${tenant} ${kind}`).toBe('current');
      }
      expect(await kv.list(`api_keys/${tenant}`), tenant).toEqual([]);
    }

    // Every AppRole role is still there, unlocked, and its application logs in with its new secret ID.
    for (const app of current.apps) {
      const role = (await root.read<{ token_bound_cidrs: string[] | null }>(`auth/approle/role/${app.role}`))
        .data;
      expect(role.token_bound_cidrs ?? []).toEqual([]);
      const login = await root.write(
        'auth/approle/login',
        { role_id: app.role_id, secret_id: app.secret_id },
        { token: null },
      );
      expect(login?.auth?.policies).toContain(app.policies[0]);
    }
  } finally {
    await root.close();
  }

  // Exactly one notice per affected tenant.
  const mail = await runCli(['lab', 'mail', '--json', '--dir', lab.dir]);
  expect(mail.code, mail.stderr).toBe(0);
  const messages = mail.json<{ messages: { to: string; subject: string }[] }>().messages;
  const recipients = messages
    .filter((m) => m.subject.includes(report.incident_id))
    .map((m) => m.to)
    .sort();
  expect(recipients).toEqual(before.attacked.map((t) => `security@${t}.mail.example`).sort());
}

describe('respond breach on a 3-node lab with 200 tenants', () => {
  let lab: TestLab;
  let before: Before;

  beforeAll(async () => {
    lab = await startTestLab({ nodes: 3, tenants: 200 });
    before = await preIncident(lab, ['tenant-0004', 'tenant-0010', 'tenant-0042', 'tenant-0150']);
  }, 300_000);
  afterAll(async () => {
    await lab?.stop();
  });

  it('contains, rekeys, rotates, notifies exactly the affected tenants, recovers and reports', async () => {
    const result = await runCli(
      ['respond', 'breach', '--yes', '--json', '--since', '1h', '--kinds', KINDS, '--config', lab.configFile],
      {
        cwd: lab.dir,
        timeoutMs: 600_000,
      },
    );
    expect(result.code, result.stderr.slice(-3000)).toBe(0);
    const report = result.json<IncidentReport>();
    await expectRecovered(lab, before, report, 200);
    expect(report.rotation).toMatchObject({ failed: 0 });
    expect(report.notifications).toEqual({ sent: 4, failed: 0 });

    // The old shares no longer unseal a node; the new ones do.
    const current = lab.lab();
    const root = labClient(current.nodes, current.root_token, logger);
    try {
      const leader = (await root.leader()).leader_address.replace(/\/$/, '');
      const node = current.nodes.find((n) => n.address !== leader)!;
      await root.seal(node.address);
      for (const key of before.keys.slice(0, 3)) await root.unseal(node.address, key).catch(() => undefined);
      expect((await root.sealStatus(node.address)).sealed).toBe(true);
      await root.unsealReset(node.address);
      for (const key of current.unseal_keys.slice(0, 3)) await root.unseal(node.address, key);
      await waitFor('the node to be unsealed', async () => !(await root.sealStatus(node.address)).sealed, {
        timeoutMs: 30_000,
      });
    } finally {
      await root.close();
    }
  }, 600_000);
});

describe('respond breach killed with SIGKILL inside contain, rekey, rotate and notify', () => {
  let lab: TestLab;
  let before: Before;
  const TENANTS = 40;

  beforeAll(async () => {
    lab = await startTestLab({ nodes: 1, tenants: TENANTS });
    before = await preIncident(
      lab,
      Array.from({ length: 12 }, (_, i) => labTenantId(i * 3)),
    );
  }, 300_000);
  afterAll(async () => {
    await lab?.stop();
  });

  /** Runs the CLI and SIGKILLs it as soon as stderr says `step` has started (after `delayMs`). */
  const killInside = (args: string[], step: string, delayMs = 0) =>
    new Promise<{ killed: boolean; stderr: string }>((resolve, reject) => {
      const child = spawn(
        process.execPath,
        [join(ROOT, 'dist/cli/main.js'), ...args, '--config', lab.configFile],
        { cwd: lab.dir },
      );
      let stderr = '';
      let armed = false;
      child.stderr.on('data', (d: Buffer) => {
        stderr += d.toString();
        if (!armed && new RegExp(`step \\d+/\\d+ ${step} .*started`).test(stderr)) {
          armed = true;
          setTimeout(() => child.kill('SIGKILL'), delayMs);
        }
      });
      child.stdout.resume();
      child.on('error', reject);
      child.on('exit', (_code, signal) => resolve({ killed: signal === 'SIGKILL', stderr }));
    });

  it('reaches the same end state with no notice sent twice and no secret lost', async () => {
    const start = [
      'respond',
      'breach',
      '--yes',
      '--since',
      '1h',
      '--kinds',
      KINDS,
      '--incident',
      'inc-crash',
    ];
    const resume = ['incident', 'resume', '--last', '--yes'];
    const kills = [
      await killInside(start, 'contain'),
      await killInside(resume, 'rekey'),
      await killInside(resume, 'rotate', 1_500),
      await killInside(resume, 'notify'),
    ];
    expect(kills.filter((k) => k.killed).length).toBeGreaterThanOrEqual(3);
    const final = await runCli([...resume, '--json', '--config', lab.configFile], {
      cwd: lab.dir,
      timeoutMs: 600_000,
    });
    const report =
      final.code === 0 && final.stdout.trim()
        ? final.json<IncidentReport>()
        : (
            await runCli(['incident', 'report', 'inc-crash', '--json', '--config', lab.configFile], {
              cwd: lab.dir,
            })
          ).json<IncidentReport>();
    expect(report.state, final.stderr.slice(-3000)).toBe('completed');
    await expectRecovered(lab, before, report, TENANTS);
  }, 900_000);
});

describe('respond breach with the team store on PostgreSQL, refusing too few key shares', () => {
  let lab: TestLab;
  let postgres: TestPostgres;
  let scratch: string;

  beforeAll(async () => {
    [lab, postgres] = await Promise.all([startTestLab({ nodes: 1, tenants: 8 }), startPostgres()]);
    scratch = mkdtempSync(join(tmpdir(), 'sealwatch-respond-pg-'));
    await simulateAttack(lab.lab(), { read: ['tenant-0002', 'tenant-0003'], probe: ['tenant-0004'] }, logger);
  }, 300_000);
  afterAll(async () => {
    await lab?.stop();
    await postgres?.stop();
    rmSync(scratch, { recursive: true, force: true });
  });

  it('stops at rekey with a clear message and a resumable journal, then finishes with the right shares', async () => {
    const oneShare = join(scratch, 'one-share');
    writeFileSync(oneShare, `${lab.lab().unseal_keys[0]}\n`, { mode: 0o600 });
    const common = ['--store', postgres.url, '--config', lab.configFile];
    const first = await runCli(
      [
        'respond',
        'breach',
        '--yes',
        '--since',
        '1h',
        '--kinds',
        KINDS,
        '--unseal-keys-file',
        oneShare,
        ...common,
      ],
      {
        cwd: lab.dir,
        timeoutMs: 300_000,
      },
    );
    expect(first.code, first.stderr).toBe(1);
    expect(first.stderr).toMatch(/1 current unseal key share\(s\) given, the threshold is 3/);
    expect(first.stderr).not.toContain(lab.lab().unseal_keys[0]);

    const shown = await runCli(['incident', 'show', '--last', '--json', ...common], { cwd: lab.dir });
    const detail = shown.json<{
      incident: { state: string };
      steps: { step_id: string; status: string }[];
    }>();
    expect(detail.incident.state, JSON.stringify(detail.incident)).toBe('failed');
    expect(detail.steps.map((s) => [s.step_id, s.status])).toEqual([
      ['preserve', 'done'],
      ['contain', 'done'],
      ['assess', 'done'],
      ['rekey', 'failed'],
      ['rotate', 'pending'],
      ['notify', 'pending'],
      ['recover', 'pending'],
      ['report', 'pending'],
    ]);

    const shares = join(scratch, 'shares');
    writeFileSync(shares, lab.lab().unseal_keys.slice(0, 3).join('\n') + '\n', { mode: 0o600 });
    const resumed = await runCli(
      ['incident', 'resume', '--last', '--yes', '--json', '--unseal-keys-file', shares, ...common],
      {
        cwd: lab.dir,
        timeoutMs: 300_000,
      },
    );
    expect(resumed.code, resumed.stderr.slice(-2000)).toBe(0);
    const report = resumed.json<IncidentReport>();
    expect(report.state).toBe('completed');
    expect([...report.affected_tenants].sort()).toEqual(['tenant-0002', 'tenant-0003']);
    expect(report.steps.find((s) => s.id === 'contain')).toMatchObject({ status: 'done' });
    // The journal lives in PostgreSQL: a second sealwatch pointed at it sees the incident.
    const listed = await runCli(['incident', 'list', '--json', '--store', postgres.url], { cwd: scratch });
    expect(listed.json<{ incidents: { id: string; state: string }[] }>().incidents).toEqual([
      expect.objectContaining({ id: report.incident_id, state: 'completed' }),
    ]);
  }, 600_000);
});
