/**
 * `npm run bench -- respond [--tokens 10000] [--tenants 1000] [--kinds ssh,smtp,apikey,dkim]`
 *
 * Two measurements on real OpenBao labs, each beside the published procedure's target:
 *  - containment of a cluster holding N live tokens (lockdown: every token but the responder's
 *    revoked, secret IDs destroyed, auth locked), target 5 minutes, issue bound 30 s for 10,000;
 *  - the whole `respond breach` for M tenants, vault-only targets, lab key holders answering at
 *    once, target 2–4 hours, issue bound 5 minutes for 1,000.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import pLimit from 'p-limit';
import { loadConfig } from '../src/config/load.js';
import { simulateAttack } from '../src/drill/simulated-attack.js';
import { labDown, labUp } from '../src/lab/lab.service.js';
import { labTenantId } from '../src/lab/layout.js';
import { silentLogger } from '../src/logging/logger.js';
import { createIncidents } from '../src/playbook/incident.service.js';
import { approveAll } from '../src/playbook/playbook.engine.js';
import { breachOptionsSchema, breachPlaybook } from '../src/respond/breach.playbook.js';
import { createContainStep } from '../src/respond/steps/contain.step.js';
import { createPreserveStep } from '../src/respond/steps/preserve.step.js';
import type { RotatorKind } from '../src/rotate/rotator.js';
import type { StepContext } from '../src/playbook/step.js';
import { Store } from '../src/store/store.js';
import { VaultClient } from '../src/vault/client.js';
import { readLabFile } from '../src/lab/lab-file.js';
import { labSite } from '../src/lab/lab-site.js';

const { values } = parseArgs({
  options: {
    tokens: { type: 'string', default: '10000' },
    tenants: { type: 'string', default: '1000' },
    kinds: { type: 'string', default: 'ssh,smtp,apikey,dkim' },
  },
  allowPositionals: true,
});
const TOKENS = Number(values.tokens);
const TENANTS = Number(values.tenants);
const KINDS = values.kinds.split(',') as RotatorKind[];
const CONTAIN_TARGET = 5 * 60;
const PROCEDURE_TARGET = 4 * 60 * 60;
const logger = silentLogger();
const progress = (text: string) => process.stderr.write(`${text}\n`);

function rootClient(dir: string): VaultClient {
  const lab = readLabFile(dir);
  return new VaultClient({
    addresses: lab.nodes.map((n) => n.address),
    token: lab.root_token,
    timeoutMs: 60_000,
    retries: 3,
    maxConnections: 64,
    logger,
  });
}

async function containment(): Promise<{ seconds: number; revoked: number }> {
  const dir = mkdtempSync(join(tmpdir(), 'sealwatch-bench-contain-'));
  try {
    progress(`containment: lab with ${TOKENS} live tokens…`);
    await labUp({ dir, nodes: 1, tenants: 5 }, { logger });
    const vault = rootClient(dir);
    const limit = pLimit(64);
    await Promise.all(
      Array.from({ length: TOKENS }, (_, i) =>
        limit(() =>
          vault.tokenCreate(
            { policies: ['operator'], ttl: '24h', display_name: `live-${i}` },
            { orphan: i % 2 === 0 },
          ),
        ),
      ),
    );
    const ctx: StepContext<Record<string, unknown>> = {
      incidentId: 'bench-contain',
      logger,
      signal: new AbortController().signal,
      options: { containment: 'lockdown' },
      progress: () => undefined,
      outputs: {},
    };
    const outputs: Record<string, Record<string, unknown> | undefined> = {};
    const preserve = createPreserveStep({ vault, incidentDir: join(dir, 'incident') });
    outputs['preserve'] = (await preserve.run(ctx)).outputs;
    const containCtx = { ...ctx, outputs };
    const contain = createContainStep({ vault, incidentDir: join(dir, 'incident') });
    progress('containment: lockdown…');
    const started = performance.now();
    const outcome = await contain.run(containCtx);
    const seconds = (performance.now() - started) / 1000;
    const lockdown = outcome.evidence['lockdown'] as { tokens_revoked_by_accessor?: number } | undefined;
    await vault.close();
    return { seconds, revoked: lockdown?.tokens_revoked_by_accessor ?? 0 };
  } finally {
    await labDown(dir, { purge: true }).catch(() => rmSync(dir, { recursive: true, force: true }));
  }
}

async function respond(): Promise<{
  seconds: number;
  state: string;
  rotated: number;
  failed: number;
  steps: Record<string, number | null>;
}> {
  const dir = mkdtempSync(join(tmpdir(), 'sealwatch-bench-respond-'));
  try {
    progress(`respond breach: lab with ${TENANTS} tenants…`);
    const since = new Date(Date.now() - 1000).toISOString();
    const up = await labUp({ dir, nodes: 1, tenants: TENANTS }, { logger });
    await simulateAttack(
      up.lab,
      { read: Array.from({ length: 8 }, (_, i) => labTenantId(i * 7)), probe: [labTenantId(1)] },
      logger,
    );
    const config = loadConfig({ config: join(dir, 'sealwatch.yaml') }, {});
    const store = await Store.open(join(dir, 'sealwatch.db'));
    const vault = rootClient(dir);
    const deps = {
      vault,
      store,
      config: { ...config, rotation: { ...config.rotation, concurrency: 64 } },
      logger,
      site: labSite(config.lab?.file, { logger }),
    };
    const options = breachOptionsSchema.parse({ since, audit_logs: [up.lab.audit_log], kinds: KINDS });
    const incidents = createIncidents({
      store,
      logger,
      playbooks: { breach: breachPlaybook },
      playbookDeps: () => deps,
    });
    progress('respond breach --yes…');
    const started = performance.now();
    const steps = await breachPlaybook(deps, options);
    const incident = await incidents.declare({ type: 'breach', steps, options, declaredBy: 'bench' });
    await incidents.run(incident.id, steps, { approve: approveAll('bench') });
    const seconds = (performance.now() - started) / 1000;
    const report = await incidents.report(incident.id);
    await store.close();
    await vault.close();
    const rotation = report.rotation as { rotated?: number; failed?: number } | null;
    return {
      seconds,
      state: report.state,
      rotated: rotation?.rotated ?? 0,
      failed: rotation?.failed ?? 0,
      steps: Object.fromEntries(report.steps.map((s) => [s.id, s.measured_seconds])),
    };
  } finally {
    await labDown(dir, { purge: true }).catch(() => rmSync(dir, { recursive: true, force: true }));
  }
}

const contain = await containment();
const breach = await respond();
const round = (n: number) => Math.round(n * 100) / 100;
console.log('\nrespond benchmark (one OpenBao node)');
console.log(
  `containment of ${TOKENS} live tokens     ${contain.seconds.toFixed(1).padStart(8)} s   procedure target ${CONTAIN_TARGET} s, issue bound 30 s`,
);
console.log(
  `respond breach, ${TENANTS} tenants (${breach.state}) ${breach.seconds.toFixed(1).padStart(8)} s   procedure target 2–4 h, issue bound 300 s`,
);
console.log(
  `  steps: ${Object.entries(breach.steps)
    .map(([id, s]) => `${id} ${s === null ? '-' : `${s.toFixed(1)} s`}`)
    .join(', ')}`,
);
console.log(`  rotated ${breach.rotated} secrets, ${breach.failed} failed\n`);
console.log(
  JSON.stringify({
    bench: 'respond',
    params: { tokens: TOKENS, tenants: TENANTS, kinds: KINDS, nodes: 1 },
    metrics: {
      containment_seconds: round(contain.seconds),
      tokens_revoked: contain.revoked,
      respond_seconds: round(breach.seconds),
      respond_state: breach.state,
      secrets_rotated: breach.rotated,
      step_seconds: breach.steps,
    },
    ratios: {
      containment_vs_target: round(CONTAIN_TARGET / contain.seconds),
      respond_vs_target: round(PROCEDURE_TARGET / breach.seconds),
    },
  }),
);
