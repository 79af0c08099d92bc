/**
 * `npm run bench -- posture [--policies 500] [--roles 200] [--mounts 20] [--tokens 10000]
 *  [--events 1000000] [--tenants 5000] [--dir DIR] [--keep]`
 *
 * `sealwatch posture` at the size issue 15 names, on a real one-node OpenBao lab: N ACL policies
 * (tenant paths, `+` segments, prefix globs, deny rules), AppRole roles carrying them, secret
 * engines, live tokens, and an audit store of E generated events (bench/generate-audit-log.ts,
 * stored with `sealwatch audit ingest`). Timed through the built CLI, end to end:
 *  - the full `posture --json` (every check; target < 20 s),
 *  - `posture access --json` over T tenants (the tenancy source lists them; target < 5 s),
 * and `ratios.vs_capabilities`: (policy, tenant path) pairs the matrix decides per second over
 * `sys/capabilities` calls per second on the same server (16 in flight, as many as it takes 10 s).
 */
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import pLimit from 'p-limit';
import { labDown, labUp } from '../src/lab/lab.service.js';
import { readLabFile } from '../src/lab/lab-file.js';
import { LAB_TENANT_TEMPLATES } from '../src/lab/layout.js';
import { silentLogger } from '../src/logging/logger.js';
import { VaultClient } from '../src/vault/client.js';
import { generateAuditLog } from './generate-audit-log.js';

const { values } = parseArgs({
  options: {
    policies: { type: 'string', default: '500' },
    roles: { type: 'string', default: '200' },
    mounts: { type: 'string', default: '20' },
    tokens: { type: 'string', default: '10000' },
    events: { type: 'string', default: '1000000' },
    tenants: { type: 'string', default: '5000' },
    dir: { type: 'string' },
    keep: { type: 'boolean', default: false },
  },
  allowPositionals: true,
});
const POLICIES = Number(values.policies);
const ROLES = Number(values.roles);
const MOUNTS = Number(values.mounts);
const TOKENS = Number(values.tokens);
const EVENTS = Number(values.events);
const TENANTS = Number(values.tenants);
const POSTURE_TARGET_S = 20;
const MATRIX_TARGET_S = 5;
const CAPABILITIES_SECONDS = 10;

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
const CLI = join(ROOT, 'dist', 'cli', 'main.js');
const logger = silentLogger();
const progress = (text: string) => process.stderr.write(`${text}\n`);
const tenantId = (i: number) => `tenant-${String(i + 1).padStart(4, '0')}`;

function ensureBuilt(): void {
  if (existsSync(CLI)) return;
  const build = spawnSync('npm', ['run', 'build'], { cwd: ROOT, stdio: 'inherit' });
  if (build.status !== 0) throw new Error('npm run build failed');
}

/** Runs the CLI; resolves with its wall time and output, rejects on an exit code other than 0 or 3. */
function cli(args: string[], env: NodeJS.ProcessEnv): Promise<{ seconds: number; stdout: string }> {
  return new Promise((resolve, reject) => {
    const started = performance.now();
    const child = spawn(process.execPath, [CLI, ...args], {
      env: { ...process.env, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on('data', (b: Buffer) => out.push(b));
    child.stderr.on('data', (b: Buffer) => err.push(b));
    child.once('error', reject);
    child.once('close', (code) => {
      const seconds = (performance.now() - started) / 1000;
      if (code === 0 || code === 3) resolve({ seconds, stdout: Buffer.concat(out).toString('utf8') });
      else
        reject(
          new Error(`sealwatch ${args.join(' ')} exited ${code}: ${Buffer.concat(err).toString('utf8')}`),
        );
    });
  });
}

/** Policy i: its tenant's paths, an app path on one engine, and every 10th a `+` or glob or deny rule. */
function policyText(i: number): string {
  const tenant = tenantId(i % TENANTS);
  const rules = [
    `path "secret/data/tenants/${tenant}/*" { capabilities = ["read"] }`,
    `path "bench-kv-${i % MOUNTS}/data/app-${i}/*" { capabilities = ["read", "list"] }`,
  ];
  if (i % 10 === 0) rules.push('path "secret/data/tenants/+/smtp" { capabilities = ["read"] }');
  if (i % 25 === 0)
    rules.push(`path "secret/data/api_keys/${tenant.slice(0, 9)}*" { capabilities = ["read", "update"] }`);
  if (i % 50 === 0) rules.push(`path "secret/data/tenants/${tenant}/dkim" { capabilities = ["deny"] }`);
  return rules.join('\n');
}

async function main(): Promise<void> {
  ensureBuilt();
  const dir = values.dir ?? mkdtempSync(join(tmpdir(), 'sealwatch-bench-posture-'));
  const loadBefore = loadavg()[0]!;
  try {
    progress(`posture bench: one-node lab in ${dir}…`);
    await labUp({ dir, nodes: 1, tenants: 5 }, { logger });
    const lab = readLabFile(dir);
    const vault = new VaultClient({
      addresses: [lab.nodes[0]!.address],
      token: lab.root_token,
      timeoutMs: 60_000,
      retries: 3,
      maxConnections: 64,
      logger,
    });
    const limit = pLimit(32);
    const setupStarted = performance.now();
    progress(`  ${MOUNTS} mounts, ${POLICIES} policies, ${ROLES} roles…`);
    await Promise.all(
      Array.from({ length: MOUNTS }, (_, i) =>
        limit(() => vault.enableMount(`bench-kv-${i}`, { type: 'kv', options: { version: '2' } })),
      ),
    );
    await Promise.all(
      Array.from({ length: POLICIES }, (_, i) => limit(() => vault.writePolicy(`bench-${i}`, policyText(i)))),
    );
    await vault.enableAuth('bench-approle', { type: 'approle' });
    await Promise.all(
      Array.from({ length: ROLES }, (_, i) =>
        limit(() =>
          vault.write(`auth/bench-approle/role/${tenantId(i % TENANTS)}-app`, {
            token_policies: [`bench-${i % POLICIES}`, `bench-${(i + ROLES) % POLICIES}`].join(','),
            secret_id_ttl: '1h',
            token_ttl: '1h',
          }),
        ),
      ),
    );
    progress(`  ${TOKENS} tokens…`);
    const tokenLimit = pLimit(64);
    await Promise.all(
      Array.from({ length: TOKENS }, (_, i) =>
        tokenLimit(() => vault.tokenCreate({ policies: [`bench-${i % POLICIES}`], ttl: '24h' })),
      ),
    );
    const setupSeconds = (performance.now() - setupStarted) / 1000;

    progress(`  ${EVENTS} audit events, ingested…`);
    const auditFile = join(dir, 'bench-audit.log');
    const store = join(dir, 'bench-store.db');
    const tenantsFile = join(dir, 'bench-tenants.txt');
    const config = join(dir, 'bench-sealwatch.yaml');
    writeFileSync(tenantsFile, `${Array.from({ length: TENANTS }, (_, i) => tenantId(i)).join('\n')}\n`);
    writeFileSync(
      config,
      [
        'tenancy:',
        '  paths:',
        ...LAB_TENANT_TEMPLATES.map((t) => `    - ${t}`),
        '  source:',
        '    kind: file',
        `    file: ${tenantsFile}`,
        'posture:',
        "  tenant_role_template: '{tenant}-app'",
        'store:',
        `  url: ${store}`,
        '',
      ].join('\n'),
    );
    // Events of the last week, so the default 30-day window holds all of them.
    await generateAuditLog({
      file: auditFile,
      lines: EVENTS,
      tenants: TENANTS,
      start: Date.now() - 7 * 86_400_000,
    });
    const env = { BAO_ADDR: lab.nodes[0]!.address, BAO_TOKEN: lab.root_token };
    const base = ['--config', config, '--log-level', 'warn'];
    const ingest = await cli([...base, 'audit', 'ingest', auditFile, '--json'], env);
    rmSync(auditFile, { force: true });

    progress('  posture --json…');
    const posture = await cli([...base, 'posture', '--json'], env);
    const report = JSON.parse(posture.stdout) as {
      findings: { check: string }[];
      checks: { id: string; status: string }[];
    };
    const byCheck: Record<string, number> = {};
    for (const f of report.findings) byCheck[f.check] = (byCheck[f.check] ?? 0) + 1;
    const notRun = report.checks.filter((c) => c.status === 'could-not-check').map((c) => c.id);

    progress(`  posture access --json over ${TENANTS} tenants…`);
    const access = await cli([...base, 'posture', 'access', '--json'], env);
    const matrix = JSON.parse(access.stdout) as { policies: unknown[]; by_tenant: Record<string, unknown> };
    const pathsPerTenant = LAB_TENANT_TEMPLATES.length;
    const matrixPairs = matrix.policies.length * Object.keys(matrix.by_tenant).length * pathsPerTenant;

    progress('  sys/capabilities on the same server…');
    const probe = await vault.tokenCreate({ policies: ['bench-0', 'bench-10'], ttl: '1h' });
    const capLimit = pLimit(16);
    let calls = 0;
    const capStarted = performance.now();
    const deadline = capStarted + CAPABILITIES_SECONDS * 1000;
    await Promise.all(
      Array.from({ length: 16 }, () =>
        capLimit(async () => {
          while (performance.now() < deadline) {
            const tenant = tenantId(calls % TENANTS);
            await vault.write('sys/capabilities', {
              token: probe.client_token,
              paths: [`secret/data/tenants/${tenant}/smtp`],
            });
            calls++;
          }
        }),
      ),
    );
    const capSeconds = (performance.now() - capStarted) / 1000;
    const capPerSecond = calls / capSeconds;
    const matrixPerSecond = matrixPairs / access.seconds;
    const loadAfter = loadavg()[0]!;

    const rows: [string, string, string][] = [
      ['setup (mounts, policies, roles, tokens)', `${setupSeconds.toFixed(1)} s`, ''],
      ['audit ingest', `${ingest.seconds.toFixed(1)} s`, `${EVENTS} events`],
      ['posture --json (all checks)', `${posture.seconds.toFixed(2)} s`, `< ${POSTURE_TARGET_S} s`],
      ['posture access --json', `${access.seconds.toFixed(2)} s`, `< ${MATRIX_TARGET_S} s`],
      ['matrix (policy, path) pairs / s', Math.round(matrixPerSecond).toLocaleString('en'), ''],
      ['sys/capabilities calls / s', Math.round(capPerSecond).toLocaleString('en'), ''],
    ];
    for (const [what, value, target] of rows)
      console.log(`${what.padEnd(42)} ${value.padStart(14)}  ${target}`);
    console.log(
      JSON.stringify({
        bench: 'posture',
        params: {
          policies: POLICIES,
          roles: ROLES,
          mounts: MOUNTS,
          tokens: TOKENS,
          events: EVENTS,
          tenants: TENANTS,
        },
        load: { before: loadBefore, after: loadAfter },
        metrics: {
          setup_seconds: round(setupSeconds),
          ingest_seconds: round(ingest.seconds),
          posture_seconds: round(posture.seconds),
          posture_findings: report.findings.length,
          posture_findings_by_check: byCheck,
          posture_checks_not_run: notRun,
          access_seconds: round(access.seconds),
          matrix_policies: matrix.policies.length,
          matrix_tenants: Object.keys(matrix.by_tenant).length,
          matrix_pairs: matrixPairs,
          capabilities_calls: calls,
          capabilities_per_second: round(capPerSecond),
        },
        targets: { posture_seconds: POSTURE_TARGET_S, access_seconds: MATRIX_TARGET_S },
        ratios: {
          vs_capabilities: round(matrixPerSecond / capPerSecond),
          posture_vs_target: round(posture.seconds / POSTURE_TARGET_S),
          access_vs_target: round(access.seconds / MATRIX_TARGET_S),
        },
      }),
    );
    await vault.close();
  } finally {
    if (!values.keep)
      await labDown(dir, { purge: true }).catch(() => rmSync(dir, { recursive: true, force: true }));
    else progress(`kept ${dir}`);
  }
}

const round = (x: number) => Math.round(x * 100) / 100;

await main();
