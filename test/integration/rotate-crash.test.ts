import { spawn } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import pg from 'pg';
import { parse, stringify } from 'yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { META } from '../../src/rotate/rotation.engine.js';
import type { RotationSummary } from '../../src/rotate/rotation.service.js';
import type { VaultClient } from '../../src/vault/client.js';
import { startTestLab, type TestLab } from '../harness/bao-lab.js';
import { ROOT, runCli } from '../harness/cli.js';
import { startPostgres, type TestPostgres } from '../harness/postgres.js';

const TENANTS = 300;
const KILLS = 4;

/**
 * `sealwatch rotate --all` over 300 tenants is killed with SIGKILL at random moments, resumed each
 * time, and finally resumed to the end. Then every tenant is checked in the real systems: one live
 * KV version per secret and it is the current one, the database password in Vault logs in to
 * PostgreSQL and the original one is refused, and every API key is gone.
 * DKIM is left out here only because 300 RSA-2048 keys cost a minute of CPU; its rotator passes
 * the same contract against BIND.
 */
describe('rotate survives SIGKILL at random points', () => {
  let lab: TestLab;
  let vault: VaultClient;
  let postgres: TestPostgres;
  let config: string;
  const original = new Map<string, { username: string; password: string }>();

  beforeAll(async () => {
    [lab, postgres] = await Promise.all([startTestLab({ nodes: 1, tenants: TENANTS }), startPostgres()]);
    vault = lab.client();
    // Each tenant's database role exists in PostgreSQL with the password Vault holds.
    const admin = new pg.Client({ connectionString: postgres.url });
    await admin.connect();
    await admin.query('CREATE DATABASE mail');
    const kv = vault.kv('secret');
    for (let i = 1; i <= TENANTS; i++) {
      const tenant = `tenant-${String(i).padStart(4, '0')}`;
      const db = (await kv.read<{ username: string; password: string }>(`tenants/${tenant}/database`))!.data;
      original.set(tenant, { username: db.username, password: db.password });
      await admin.query(
        `CREATE ROLE ${admin.escapeIdentifier(db.username)} LOGIN PASSWORD ${admin.escapeLiteral(db.password)}`,
      );
    }
    await admin.end();
    const adminUrlFile = join(lab.dir, 'pg-admin-url');
    writeFileSync(adminUrlFile, postgres.url, { mode: 0o600 });
    const labConfig = parse(readFileSync(lab.configFile, 'utf8')) as Record<string, Record<string, unknown>>;
    labConfig['rotation'] = {
      secrets: [
        { kind: 'ssh', path: 'secret/tenants/{tenant}/ssh' },
        { kind: 'smtp', path: 'secret/tenants/{tenant}/smtp' },
        { kind: 'apikey', path: 'secret/api_keys/{tenant}/{key_id}' },
        { kind: 'postgres', path: 'secret/tenants/{tenant}/database' },
      ],
      concurrency: 16,
      targets: {
        postgres: {
          mode: 'alter-role',
          host: '127.0.0.1',
          port: postgres.port,
          admin_url: { file: adminUrlFile },
        },
      },
    };
    config = join(lab.dir, 'crash.yaml');
    writeFileSync(config, stringify(labConfig));
  }, 300_000);
  afterAll(async () => {
    await lab?.stop();
    await postgres?.stop();
  });

  /** Starts the CLI and SIGKILLs it after `afterMs`; resolves when it is gone. */
  /**
   * Starts the CLI and SIGKILLs it `afterMs` after it says the run is under way (`run rot-…` or
   * `resuming: …` on stderr), so every kill lands inside the rotation however slow the start is.
   */
  const runAndKill = (args: string[], afterMs: number) =>
    new Promise<{ killed: boolean }>((resolve, reject) => {
      const child = spawn(process.execPath, [join(ROOT, 'dist/cli/main.js'), ...args, '--config', config], {
        cwd: lab.dir,
        stdio: ['ignore', 'ignore', 'pipe'],
      });
      let timer: NodeJS.Timeout | undefined;
      let said = '';
      child.stderr.on('data', (d: Buffer) => {
        said += d.toString();
        if (!timer && /^(run rot-|resuming: )/m.test(said))
          timer = setTimeout(() => child.kill('SIGKILL'), afterMs);
      });
      child.on('error', reject);
      child.on('exit', (_code, signal) => {
        clearTimeout(timer);
        resolve({ killed: signal === 'SIGKILL' });
      });
    });

  it('reaches one consistent state: every secret rotated once, working in its target, old one retired', async () => {
    let killed = 0;
    for (let round = 0; round < KILLS; round++) {
      const args = round === 0 ? ['rotate', '--all'] : ['rotate', 'resume', '--last'];
      // A resume has less left to do than the first run: its kill comes sooner, so that at least
      // two crashes land inside a rotation however fast this machine rotates.
      const maxDelayMs = round === 0 ? 1_500 : 400;
      const result = await runAndKill(args, 100 + Math.floor(Math.random() * maxDelayMs));
      if (!result.killed) break; // it finished before the kill
      killed++;
    }
    expect(killed).toBeGreaterThanOrEqual(2);

    const listed = await runCli(['rotate', 'list', '--json', '--config', config], { cwd: lab.dir });
    const runs = listed.json<{ runs: { state: string }[] }>().runs;
    expect(runs).toHaveLength(1);
    const finished = runs[0]!.state === 'completed';
    const final = await runCli(
      ['rotate', finished ? 'status' : 'resume', '--last', '--json', '--config', config],
      {
        cwd: lab.dir,
        timeoutMs: 300_000,
      },
    );
    expect(final.code, final.stderr + final.stdout.slice(0, 3000)).toBe(0);
    const summary = final.json<RotationSummary>();
    expect(summary.failures).toEqual([]);
    expect(summary).toMatchObject({ state: 'completed', failed: 0, pending: 0, rolled_back: 0 });
    expect(summary.by_kind.ssh?.rotated).toBe(TENANTS);
    expect(summary.by_kind.smtp?.rotated).toBe(TENANTS);
    expect(summary.by_kind.postgres?.rotated).toBe(TENANTS);
    expect(summary.by_kind.apikey?.rotated).toBe(TENANTS * 2);
    expect(summary.records).toHaveLength(TENANTS);

    const kv = vault.kv('secret');
    const canLogIn = async (user: string, password: string) => {
      const client = new pg.Client({
        host: '127.0.0.1',
        port: postgres.port,
        database: 'mail',
        user,
        password,
      });
      try {
        await client.connect();
        await client.query('SELECT 1');
        return true;
      } catch {
        return false;
      } finally {
        await client.end().catch(() => undefined);
      }
    };
    {
      for (let i = 1; i <= TENANTS; i++) {
        const tenant = `tenant-${String(i).padStart(4, '0')}`;
        for (const kind of ['ssh', 'smtp', 'database']) {
          const meta = (await kv.readMetadata(`tenants/${tenant}/${kind}`))!;
          const live = Object.entries(meta.versions).filter(([, v]) => !v.destroyed && !v.deletion_time);
          // Exactly one live version, the current one, written by this run once.
          expect(
            live.map(([n]) => Number(n)),
            `${tenant} ${kind}`,
          ).toEqual([meta.current_version]);
          expect(meta.current_version, `${tenant} ${kind}`).toBe(2);
          expect(meta.custom_metadata?.[META.state]).toBe('current');
          expect(meta.custom_metadata?.[META.current]).toBe(String(meta.current_version));
        }
        const now = (await kv.read<{ username: string; password: string }>(`tenants/${tenant}/database`))!
          .data;
        const before = original.get(tenant)!;
        expect(now.password).not.toBe(before.password);
        expect(await canLogIn(now.username, now.password), `${tenant} new password`).toBe(true);
        expect(await canLogIn(before.username, before.password), `${tenant} old password`).toBe(false);
        expect(await kv.list(`api_keys/${tenant}`)).toEqual([]);
      }
    }
  }, 600_000);
});
