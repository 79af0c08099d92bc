import { readFileSync, writeFileSync } from 'node:fs';
import { createServer, type Server, type Socket } from 'node:net';
import { join } from 'node:path';
import pLimit from 'p-limit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse, stringify } from 'yaml';
import type { RunbookDiagnosis as Diagnosis } from '../../src/runbooks/runbook.js';
import type { IncidentReport as Report } from '../../src/playbook/report.js';
import { countLeases } from '../../src/runbooks/memory/leases.js';
import { silentLogger } from '../../src/logging/logger.js';
import { diagnoseMemory, memoryRunbook } from '../../src/runbooks/runbooks/memory.runbook.js';
import { VaultClient } from '../../src/vault/client.js';
import { startTestLab, type TestLab } from '../harness/bao-lab.js';
import { runCli } from '../harness/cli.js';

/** The fault: a client creating tokens in a loop, each with a lease under the token role's prefix. */
const RUNAWAY_ROLE = 'runaway';
const RUNAWAY_PREFIX = `auth/token/create/${RUNAWAY_ROLE}/`;
/**
 * A thousand leases: creating them takes seconds, but OpenBao revokes tokens one by one (a few
 * raft writes each, ~30-100 per second on two cores), and the revoke is part of the test.
 */
const RUNAWAY_TOKENS = 1_000;

/** A TCP server on 127.0.0.1 that accepts connections and never answers. */
async function hangingNode(): Promise<{ address: string; close(): Promise<void> }> {
  const sockets = new Set<Socket>();
  const server: Server = createServer((socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => undefined);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as { port: number }).port;
  return {
    address: `http://127.0.0.1:${port}`,
    close: () =>
      new Promise((resolve) => {
        sockets.forEach((s) => s.destroy());
        server.close(() => resolve());
      }),
  };
}

/** A client as `runbook diagnose` makes it: 2.5 s timeout, no retries. */
function diagnoseClient(addresses: readonly string[], token: string): VaultClient {
  return new VaultClient({
    addresses,
    token,
    timeoutMs: 2_500,
    retries: 0,
    maxConnections: 16,
    logger: silentLogger(),
  });
}

describe('runbook memory against a real 3-node OpenBao', () => {
  let lab: TestLab;
  let vault: VaultClient;
  let baseline: number;
  const tokens: string[] = [];
  const cli = (args: string[], config = lab.configFile) =>
    runCli([...args, '--config', config], { cwd: lab.dir, timeoutMs: 180_000 });

  beforeAll(async () => {
    lab = await startTestLab({ nodes: 3, tenants: 2 });
    vault = lab.client();
    baseline = (await countLeases(vault, '')).total;
  });
  afterAll(async () => {
    await lab?.stop();
  });

  it('calls a quiet cluster healthy and reports where its few leases are', async () => {
    const result = await cli(['runbook', 'diagnose', 'memory', '--json', '--fail-on', 'low']);
    expect(result.code, result.stderr).toBe(0);
    const diagnosis = result.json<Diagnosis>();
    expect(diagnosis.healthy).toBe(true);
    const count = diagnosis.findings.find((f) => f.id === 'lease-count')!;
    expect(count.evidence['leases']).toBe(baseline);
    expect(count.evidence['threshold']).toBe(10_000);
  });

  it('names the lease count and the prefix holding the runaway leases, with their TTL', async () => {
    await vault.write(`auth/token/roles/${RUNAWAY_ROLE}`, {
      allowed_policies: ['default'],
      token_explicit_max_ttl: '2h',
      // Orphans: a client's own tokens, no parent index to update on revoke (faster both ways).
      orphan: true,
    });
    const started = Date.now();
    const limit = pLimit(32);
    await Promise.all(
      Array.from({ length: RUNAWAY_TOKENS }, () =>
        limit(async () => {
          const res = await vault.write<never>(`auth/token/create/${RUNAWAY_ROLE}`, { ttl: '1h' });
          tokens.push(res!.auth!.client_token);
        }),
      ),
    );
    const createSeconds = (Date.now() - started) / 1000;
    expect(tokens).toHaveLength(RUNAWAY_TOKENS);

    const result = await cli([
      'runbook',
      'diagnose',
      'memory',
      '--json',
      '--max-leases',
      '500',
      '--fail-on',
      'medium',
    ]);
    expect(result.code, result.stderr).toBe(3);
    const diagnosis = result.json<Diagnosis>();
    expect(diagnosis.healthy).toBe(false);
    const high = diagnosis.findings.find((f) => f.id === 'lease-count-high')!;
    expect(high.severity).toBe('medium');
    expect(high.evidence['leases']).toBe(baseline + RUNAWAY_TOKENS);
    expect(high.evidence['complete']).toBe(true);
    const top = (high.evidence['top_prefixes'] as Record<string, unknown>[])[0]!;
    expect(top['prefix']).toBe(RUNAWAY_PREFIX);
    expect(top['mount']).toBe('auth/token/');
    expect(top['leases']).toBe(RUNAWAY_TOKENS);
    for (const ttl of top['ttl_sample_seconds'] as number[]) {
      expect(ttl).toBeGreaterThan(3_000);
      expect(ttl).toBeLessThanOrEqual(3_600);
    }
    expect(high.suggested_step).toContain(`--prefix ${RUNAWAY_PREFIX}`);

    // The diagnosis itself, as `runbook diagnose` makes it (2.5 s timeout, no retries), under 3 s.
    const fast = diagnoseClient(
      lab.lab().nodes.map((n) => n.address),
      lab.lab().root_token,
    );
    try {
      const t0 = Date.now();
      const options = memoryRunbook.options.parse({ maxLeases: 500 });
      const findings = await diagnoseMemory({ vault: fast }, options);
      const diagnoseSeconds = (Date.now() - t0) / 1000;
      expect(findings.some((f) => f.id === 'lease-count-high')).toBe(true);
      expect(diagnoseSeconds).toBeLessThan(3);
      process.stderr.write(
        `memory: ${RUNAWAY_TOKENS} tokens in ${createSeconds.toFixed(1)} s; diagnose ${diagnoseSeconds.toFixed(2)} s\n`,
      );
    } finally {
      await fast.close();
    }
  });

  it('revokes the runaway prefix with counts before and after; the tokens are refused afterwards', async () => {
    const result = await cli([
      'runbook',
      'run',
      'memory',
      '--yes',
      '--json',
      '--max-leases',
      '500',
      '--prefix',
      RUNAWAY_PREFIX,
    ]);
    expect(result.code, result.stderr).toBe(0);
    const report = result.json<Report>();
    expect(report.state).toBe('completed');
    const revoke = report.steps.find((s) => s.id === 'revoke-prefix')!;
    expect(revoke.status).toBe('done');
    expect(revoke.evidence['prefixes']).toEqual([
      { prefix: RUNAWAY_PREFIX, before: RUNAWAY_TOKENS, after: 0 },
    ]);
    expect(report.steps.find((s) => s.id === 'verify-healthy')!.status).toBe('done');

    // In the cluster: only the leases that were there before the fault are left …
    expect((await countLeases(vault, '')).total).toBe(baseline);
    expect(await vault.leaseList(RUNAWAY_PREFIX)).toEqual([]);
    // … and every runaway token is refused.
    const limit = pLimit(32);
    const works = await Promise.all(
      tokens.map((token) =>
        limit(() =>
          vault.tokenLookupSelf(token).then(
            () => true,
            () => false,
          ),
        ),
      ),
    );
    expect(works.filter(Boolean)).toHaveLength(0);
    // The seeded tokens under auth/token/create/ itself are untouched.
    expect(
      (await vault.leaseList('auth/token/create/')).filter((k) => !k.endsWith('/')).length,
    ).toBeGreaterThan(0);
  });

  it('without --prefix revokes nothing and says how to choose one', async () => {
    const dry = await cli(['runbook', 'run', 'memory', '--dry-run', '--json']);
    expect(dry.code, dry.stderr).toBe(0);
    const plan = dry.json<{ steps: { id: string; skip?: string }[] }>();
    expect(plan.steps.find((s) => s.id === 'revoke-prefix')!.skip).toMatch(/no --prefix given/);
  });

  it('refuses an empty prefix (every lease at once) as a usage error', async () => {
    const result = await cli(['runbook', 'run', 'memory', '--yes', '--prefix', '/']);
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(/give a lease prefix/);
    expect((await countLeases(vault, '')).total).toBe(baseline);
  });

  it('answers in seconds when one configured node hangs, naming it', async () => {
    const hanging = await hangingNode();
    try {
      const config = parse(readFileSync(lab.configFile, 'utf8')) as { vault: { addresses: string[] } };
      config.vault.addresses.push(hanging.address);
      const file = join(lab.dir, 'sealwatch-hanging.yaml');
      writeFileSync(file, stringify(config));
      const result = await cli(['runbook', 'diagnose', 'memory', '--json'], file);
      expect(result.code, result.stderr).toBe(0);
      const unavailable = result.json<Diagnosis>().findings.filter((f) => f.id === 'metrics-unavailable');
      expect(unavailable.map((f) => f.node)).toEqual([hanging.address]);
      expect(unavailable[0]!.symptom).toMatch(/no answer within 2500 ms/);
      // The diagnosis itself (without the CLI's start): one timeout, not one per request.
      const fast = diagnoseClient(config.vault.addresses, lab.lab().root_token);
      try {
        const t0 = Date.now();
        await diagnoseMemory({ vault: fast }, memoryRunbook.options.parse({}));
        expect((Date.now() - t0) / 1000).toBeLessThan(3);
      } finally {
        await fast.close();
      }
    } finally {
      await hanging.close();
    }
  });
});
