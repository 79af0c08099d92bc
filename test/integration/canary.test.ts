import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse, stringify } from 'yaml';
import { simulateAttack } from '../../src/drill/simulated-attack.js';
import { silentLogger } from '../../src/logging/logger.js';
import { startTestLab, type TestLab } from '../harness/bao-lab.js';
import { startBind, type TestBind } from '../harness/bind.js';
import { runCli, type CliResult } from '../harness/cli.js';
import { startPostgres, type TestPostgres } from '../harness/postgres.js';
import { startSmtpServer, type TestSmtpServer } from '../harness/smtp.js';

/**
 * Whole runs with known canary values planted in every secret kind, some steps made to fail, then
 * every place sealwatch writes is searched for them: log lines on stderr at debug level, the
 * journal, every store table (SQLite and PostgreSQL), every report format, every file it wrote and
 * every notice received. The canaries are values only the redactor's registry can know (no token or
 * PEM shape a pattern would cut), so a boundary that skips the redactor shows here.
 */
const logger = silentLogger();
const TENANT = 'tenant-0001';
const KINDS = 'ssh,smtp,apikey,postgres,dkim';

const canary = (kind: string) => `canary${kind}${randomBytes(12).toString('hex')}`;

interface Planted {
  values: { smtpPassword: string; dbPassword: string; apiKey: string; sshKeyLine: string };
}

/** New KV versions of one tenant's secrets holding canaries (the lab seeded the first versions). */
async function plant(lab: TestLab): Promise<Planted> {
  const kv = lab.client().kv('secret');
  const { privateKey } = generateKeyPairSync('ed25519', {
    privateKeyEncoding: { type: 'pkcs8', format: 'pem' },
    publicKeyEncoding: { type: 'spki', format: 'pem' },
  });
  // The body line of a private key: what a leak of part of a key would show, no PEM header to match.
  const keyLine = privateKey.split('\n')[1]!;
  const values = {
    smtpPassword: canary('smtp'),
    dbPassword: canary('db'),
    apiKey: `sk_live_${canary('api')}`,
    sshKeyLine: keyLine,
  };
  const ssh = (await kv.read<Record<string, string>>(`tenants/${TENANT}/ssh`))!.data;
  await kv.write(`tenants/${TENANT}/ssh`, { ...ssh, private_key: privateKey });
  const smtp = (await kv.read<Record<string, string>>(`tenants/${TENANT}/smtp`))!.data;
  await kv.write(`tenants/${TENANT}/smtp`, { ...smtp, password: values.smtpPassword });
  const db = (await kv.read<Record<string, string>>(`tenants/${TENANT}/database`))!.data;
  await kv.write(`tenants/${TENANT}/database`, { ...db, password: values.dbPassword });
  await kv.write(`api_keys/${TENANT}/key-1`, { key: values.apiKey, created_at: new Date().toISOString() });
  return { values };
}

/** Every file under `dir` except those named in `skip`, as text. */
function filesUnder(dir: string, skip: ReadonlySet<string>): Map<string, string> {
  const out = new Map<string, string>();
  for (const name of readdirSync(dir)) {
    const path = join(dir, name);
    if (skip.has(path)) continue;
    if (statSync(path).isDirectory()) for (const [p, t] of filesUnder(path, skip)) out.set(p, t);
    else out.set(path, readFileSync(path, 'latin1'));
  }
  return out;
}

function sqliteTables(file: string): Map<string, string> {
  const db = new Database(file, { readonly: true });
  try {
    const tables = db
      .prepare("SELECT name FROM sqlite_master WHERE type = 'table'")
      .all()
      .map((r) => (r as { name: string }).name);
    return new Map(
      tables.map((t) => [`sqlite:${t}`, JSON.stringify(db.prepare(`SELECT * FROM "${t}"`).all())]),
    );
  } finally {
    db.close();
  }
}

async function postgresTables(url: string): Promise<Map<string, string>> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    const { rows } = await client.query<{ schema: string; name: string }>(
      "SELECT table_schema AS schema, table_name AS name FROM information_schema.tables WHERE table_schema NOT IN ('pg_catalog', 'information_schema')",
    );
    const out = new Map<string, string>();
    for (const { schema, name } of rows) {
      const data = await client.query(`SELECT * FROM "${schema}"."${name}"`);
      out.set(`postgres:${schema}.${name}`, JSON.stringify(data.rows));
    }
    return out;
  } finally {
    await client.end();
  }
}

/** Where each canary was found: `place: canary-name`. */
function leaks(places: Map<string, string>, canaries: Record<string, string>): string[] {
  const found: string[] = [];
  for (const [place, text] of places)
    for (const [name, value] of Object.entries(canaries))
      if (text.includes(value)) found.push(`${place}: ${name}`);
  return found;
}

describe.each(['sqlite', 'postgres'] as const)('canaries through whole runs, store on %s', (storeKind) => {
  let lab: TestLab;
  let bind: TestBind;
  let refusing: TestSmtpServer;
  let postgres: TestPostgres | undefined;
  let work: string;

  beforeAll(async () => {
    [lab, bind, refusing, postgres] = await Promise.all([
      startTestLab({ nodes: 1, tenants: 3 }),
      startBind('mail.example'),
      startSmtpServer(),
      storeKind === 'postgres' ? startPostgres() : Promise.resolve(undefined),
    ]);
    work = mkdtempSync(join(tmpdir(), 'sealwatch-canary-'));
  }, 180_000);
  afterAll(async () => {
    await lab?.stop();
    await bind?.stop();
    await refusing?.close();
    await postgres?.stop();
    if (work) rmSync(work, { recursive: true, force: true });
  });

  it('finds no canary in logs, journal, store tables, reports, files or notices', async () => {
    const planted = await plant(lab);
    const before = lab.lab();
    await simulateAttack(before, { read: [TENANT], probe: [] }, logger);

    const notifyPassword = canary('notifypw');
    const wrongShares = Array.from({ length: 3 }, () => randomBytes(33).toString('base64'));
    const canaries: Record<string, string> = {
      ...planted.values,
      notifyPassword,
      tsigSecret: bind.unauthorizedTsig.secret,
      ...Object.fromEntries(wrongShares.map((s, i) => [`wrongShare${i}`, s])),
      ...Object.fromEntries(before.unseal_keys.map((s, i) => [`oldShare${i}`, s])),
      oldRootToken: before.root_token,
    };

    // The lab's config with a DNS server that refuses the key and an SMTP relay that refuses the login.
    const labConfig = parse(readFileSync(lab.configFile, 'utf8')) as Record<string, Record<string, unknown>>;
    const failing = join(work, 'failing.yaml');
    writeFileSync(
      failing,
      stringify({
        ...labConfig,
        vault: labConfig['vault'],
        lab: { file: join(lab.dir, 'lab.json') },
        rotation: {
          ...labConfig['rotation'],
          targets: {
            dkim: {
              mode: 'rfc2136',
              server: { host: bind.host, port: bind.port },
              zone: bind.zone,
              tsig: { name: bind.unauthorizedTsig.name, secret: { env: 'CANARY_TSIG' } },
            },
          },
        },
        notify: {
          from: 'Security <security@sealwatch.test>',
          smtp: {
            host: refusing.host,
            port: refusing.port,
            starttls: 'none',
            auth: { user: 'sealwatch', password: { env: 'CANARY_SMTP_PASSWORD' } },
          },
          retries: { attempts: 1, backoff_ms: 100 },
        },
      }),
    );
    const wrongFile = join(work, 'wrong-shares');
    writeFileSync(wrongFile, wrongShares.join('\n') + '\n', { mode: 0o600 });
    const leakedFile = join(work, 'leaked-value');
    writeFileSync(leakedFile, planted.values.apiKey, { mode: 0o600 });
    const inputs = new Set([failing, wrongFile, leakedFile]);

    const store = storeKind === 'postgres' ? postgres!.url : join(work, 'store', 'sealwatch.db');
    const env = {
      CANARY_TSIG: bind.unauthorizedTsig.secret,
      CANARY_SMTP_PASSWORD: notifyPassword,
      BAO_TOKEN: before.root_token,
    };
    const runs: [string, CliResult][] = [];
    const cli = async (config: string, args: string[], input?: string) => {
      const result = await runCli(['--log-level', 'debug', '--config', config, '--store', store, ...args], {
        cwd: work,
        env: { ...env, BAO_TOKEN: lab.lab().root_token },
        timeoutMs: 240_000,
        ...(input !== undefined ? { input } : {}),
      });
      runs.push([args.slice(0, 3).join(' '), result]);
      return result;
    };

    // respond breach: a wrong share stops it at rekey; resumed with the right ones, the DNS server
    // refuses every DKIM update and the SMTP relay refuses the login for every notice.
    const breach = await cli(failing, [
      'respond',
      'breach',
      '--yes',
      '--since',
      '1h',
      '--kinds',
      KINDS,
      '--unseal-keys-file',
      wrongFile,
    ]);
    expect(breach.code, breach.stderr.slice(-2000)).toBe(1);
    const shares = join(work, 'shares');
    writeFileSync(shares, before.unseal_keys.slice(0, 3).join('\n') + '\n', { mode: 0o600 });
    inputs.add(shares);
    const resumed = await cli(failing, [
      'incident',
      'resume',
      '--last',
      '--yes',
      '--unseal-keys-file',
      shares,
    ]);
    // Then the notices go out through the lab's catcher, which accepts them.
    const delivered = await cli(lab.configFile, ['incident', 'resume', '--last', '--yes']);
    const rotateAll = await cli(failing, ['rotate', '--all', '--kinds', KINDS]);
    const leak = await cli(failing, [
      'runbook',
      'run',
      'secret-leak',
      '--value-file',
      leakedFile,
      '--yes',
      '--unseal-keys-file',
      shares,
    ]);
    const snapshot = join(work, 'backup.snap');
    const snap = await cli(failing, ['backup', 'snapshot', '--out', snapshot]);
    expect(snap.code, snap.stderr.slice(-2000)).toBe(0);
    inputs.add(snapshot);
    const after = lab.lab();
    const newShares = join(work, 'new-shares');
    writeFileSync(newShares, after.unseal_keys.slice(0, 3).join('\n') + '\n', { mode: 0o600 });
    inputs.add(newShares);
    const verify = await cli(failing, ['backup', 'verify', snapshot, '--unseal-keys-file', newShares]);
    const listed = await cli(failing, ['incident', 'list', '--json']);
    const incidentIds = listed.json<{ incidents: { id: string }[] }>().incidents.map((i) => i.id);
    expect(incidentIds.length).toBeGreaterThanOrEqual(2); // the breach and the secret-leak runbook
    const reports: CliResult[] = [];
    let shown = '';
    for (const id of incidentIds) {
      for (const format of ['md', 'html', 'json'] as const)
        reports.push(await cli(failing, ['incident', 'report', id, '--format', format]));
      shown += (await cli(failing, ['incident', 'show', id, '--json'])).stdout;
    }

    // The failures really happened: the wrong share, the refused DNS update, the refused login.
    const allStderr = runs.map(([, r]) => r.stderr).join('\n');
    expect(breach.stderr).toMatch(/share|unseal|rekey/i);
    expect(allStderr + shown).toMatch(/REFUSED|NOTAUTH|refused/);
    expect(shown + allStderr).toMatch(/EAUTH|authentication|535/i);
    expect(refusing.messages()).toEqual([]);
    for (const [name, result] of [
      ['resume', resumed],
      ['delivered', delivered],
      ['rotate', rotateAll],
      ['leak', leak],
      ['verify', verify],
    ] as const)
      expect(result.stderr.length, `${name} wrote no logs`).toBeGreaterThan(0);

    // Values the runs generated are canaries too: the new shares and root token.
    Object.assign(canaries, {
      ...Object.fromEntries(after.unseal_keys.map((s, i) => [`newShare${i}`, s])),
      newRootToken: after.root_token,
    });

    const mail = await runCli(['lab', 'mail', '--json', '--dir', lab.dir]);
    expect(mail.code, mail.stderr).toBe(0);
    const places = new Map<string, string>([
      ...runs.map(([what, r], i): [string, string] => [
        `run ${i} (${what}) stdout+stderr`,
        r.stdout + r.stderr,
      ]),
      ['lab catcher notices', mail.stdout],
      ['refusing smtp notices', JSON.stringify(refusing.messages())],
      ...filesUnder(work, inputs),
      ...(storeKind === 'postgres' ? await postgresTables(postgres!.url) : sqliteTables(store)),
    ]);
    expect(reports.every((r) => r.code === 0 && r.stdout.length > 100)).toBe(true);
    expect(mail.stdout).toContain(TENANT);

    // The scan can fail: the inputs hold the canaries it looks for.
    expect(leaks(filesUnder(work, new Set()), canaries).length).toBeGreaterThan(0);
    expect(leaks(places, canaries)).toEqual([]);
  }, 600_000);
});
