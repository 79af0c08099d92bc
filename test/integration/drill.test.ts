import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { removeCliLab, trackCliLab } from '../harness/bao-lab.js';
import { runCli } from '../harness/cli.js';

interface DrillResult {
  incident_id: string;
  state: string;
  affected_tenants: string[];
  at_risk_tenants: string[];
  steps: { id: string; status: string }[];
  rotation: { state: string; total: number; rotated: number; failed: number };
  notifications: { sent: number; failed: number };
}

/**
 * `sealwatch drill`, the README's first command, through the built CLI as `scripts/drill` runs it,
 * on a one-node lab: the simulated attacker reads three tenants' secrets and probes others, and
 * the response, run end to end, names exactly those three, rotates every tenant's secrets and
 * leaves one notice per affected tenant in the lab's real SMTP catcher.
 */
describe('sealwatch drill', () => {
  const dir = mkdtempSync(join(tmpdir(), 'sealwatch-drill-'));
  afterAll(() => removeCliLab(dir));

  it('answers a simulated breach end to end and notifies exactly the tenants read', async () => {
    const drill = await runCli(
      ['drill', '--nodes', '1', '--tenants', '8', '--attacked', '3', '--dir', dir, '--json'],
      { timeoutMs: 180_000 },
    );
    trackCliLab(dir);
    expect(drill.code, drill.stderr).toBe(0);

    const result = drill.json<DrillResult>();
    expect(result.state).toBe('completed');
    expect(result.steps.map((s) => `${s.id}:${s.status}`)).toEqual(
      ['preserve', 'contain', 'assess', 'rekey', 'rotate', 'notify', 'recover', 'report'].map(
        (s) => `${s}:done`,
      ),
    );
    // The attacker read every other tenant from the first: 1, 3 and 5; 6, 7 and 8 were only probed.
    const attacked = ['tenant-0001', 'tenant-0003', 'tenant-0005'];
    expect(result.affected_tenants).toEqual(attacked);
    // Could-read beside did-read: the mailer policy reads every tenant's SMTP and DKIM secrets, so
    // the tenants it did not read are at risk (the excluded test tenant never counts).
    expect(result.at_risk_tenants).toEqual([
      'tenant-0002',
      'tenant-0004',
      'tenant-0006',
      'tenant-0007',
      'tenant-0008',
    ]);
    expect(result.rotation).toMatchObject({ state: 'completed', failed: 0 });
    expect(result.rotation.rotated).toBe(result.rotation.total);
    expect(result.notifications).toEqual({ sent: 3, failed: 0 });
    const report = await runCli([
      'incident',
      'report',
      result.incident_id,
      '--format',
      'md',
      '--config',
      join(dir, 'sealwatch.yaml'),
    ]);
    expect(report.code, report.stderr).toBe(0);
    expect(report.stdout).toContain(
      'At risk (could read, no read on record): 5: tenant-0002, tenant-0004, tenant-0006, tenant-0007, tenant-0008',
    );

    const inbox = await runCli(['lab', 'mail', '--dir', dir, '--json']);
    expect(inbox.code, inbox.stderr).toBe(0);
    const { messages } = inbox.json<{ messages: { to: string; subject: string }[] }>();
    expect(messages.map((m) => m.to).sort()).toEqual(attacked.map((t) => `security@${t}.mail.example`));
    for (const message of messages)
      expect(message.subject).toContain(`Security incident ${result.incident_id}`);
  });
});
