/**
 * `npm run bench -- rotate [--tenants 2000] [--concurrency 64] [--baseline-tenants 300] [--writes 10000]`
 *
 * Rotating ssh+smtp+apikey+dkim (vault-only targets) of every tenant on one real OpenBao node,
 * against two baselines measured in the same process on the same server:
 *  - the published procedure's loop: one tenant after another, one await after another, making the
 *    same Vault calls per secret as sealwatch (timed over a sample of tenants, as tenants per second);
 *  - a bare concurrent KV v2 write loop at the same concurrency: the server's request-rate ceiling.
 * RSA-2048 generation for DKIM is CPU work that no orchestration can hide on two cores; both arms
 * draw DKIM keys from one pool made before timing starts, and its cost per key is reported apart.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import pLimit from 'p-limit';
import { loadConfig } from '../src/config/load.js';
import { labDown, labUp } from '../src/lab/lab.service.js';
import { silentLogger } from '../src/logging/logger.js';
import { META } from '../src/rotate/rotation.engine.js';
import { createRotation } from '../src/rotate/rotation.service.js';
import type { Rotator, RotatorKind, SecretData } from '../src/rotate/rotator.js';
import { createApiKeyRotator } from '../src/rotate/rotators/apikey.rotator.js';
import { createDkimRotator } from '../src/rotate/rotators/dkim.rotator.js';
import { createKvRotator } from '../src/rotate/rotators/kv.rotator.js';
import { createPostgresRotator } from '../src/rotate/rotators/postgres.rotator.js';
import { createSmtpRotator } from '../src/rotate/rotators/smtp.rotator.js';
import { createSshRotator } from '../src/rotate/rotators/ssh.rotator.js';
import { generateDkimKey, randomApiKey, type DkimKey } from '../src/secrets/generators.js';
import { Store } from '../src/store/store.js';
import { VaultClient } from '../src/vault/client.js';

const { values } = parseArgs({
  options: {
    tenants: { type: 'string', default: '2000' },
    concurrency: { type: 'string', default: '64' },
    'baseline-tenants': { type: 'string', default: '300' },
    writes: { type: 'string', default: '10000' },
    'dkim-pool': { type: 'string', default: '16' },
  },
  allowPositionals: true,
});
const TENANTS = Number(values.tenants);
const CONCURRENCY = Number(values.concurrency);
const BASELINE_TENANTS = Math.min(Number(values['baseline-tenants']), TENANTS);
const WRITES = Number(values.writes);
const KINDS: RotatorKind[] = ['ssh', 'smtp', 'apikey', 'dkim'];
const SECRETS = [
  { kind: 'ssh' as const, path: 'secret/tenants/{tenant}/ssh' },
  { kind: 'smtp' as const, path: 'secret/tenants/{tenant}/smtp' },
  { kind: 'apikey' as const, path: 'secret/api_keys/{tenant}/{key_id}' },
  { kind: 'dkim' as const, path: 'secret/tenants/{tenant}/dkim' },
];

const progress = (text: string) => process.stderr.write(`${text}\n`);
const logger = silentLogger();

async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'sealwatch-bench-rotate-'));
  try {
    progress(`starting a 1-node OpenBao lab with ${TENANTS} tenants…`);
    const up = await labUp({ dir, nodes: 1, tenants: TENANTS }, { logger, onProgress: () => undefined });
    // Every arm gets the same client: one connection per request in flight.
    const client = () =>
      new VaultClient({
        addresses: up.lab.nodes.map((n) => n.address),
        token: up.lab.root_token,
        timeoutMs: 60_000,
        retries: 3,
        maxConnections: CONCURRENCY,
        logger,
      });
    const vault = client();

    progress(`making a pool of ${values['dkim-pool']} RSA-2048 DKIM keys…`);
    const poolStarted = performance.now();
    const pool: DkimKey[] = [];
    for (let i = 0; i < Number(values['dkim-pool']); i++) pool.push(await generateDkimKey('pool'));
    const keygenMsPerKey = (performance.now() - poolStarted) / pool.length;
    let poolIndex = 0;
    const pooledKey = async (selector: string): Promise<DkimKey> => ({
      ...pool[poolIndex++ % pool.length]!,
      selector,
    });
    const rotators = (): Record<RotatorKind, Rotator> => ({
      ssh: createSshRotator({ mode: 'vault-only' }),
      smtp: createSmtpRotator({ mode: 'vault-only' }),
      apikey: createApiKeyRotator({ issue_replacements: false }),
      dkim: createDkimRotator({ mode: 'vault-only' }, { generateKey: pooledKey }),
      postgres: createPostgresRotator({ mode: 'vault-only' }, { vault }),
      kv: createKvRotator({ fields: {} }),
    });

    // 1. The server's ceiling: bare concurrent KV v2 writes.
    progress(`bare KV v2 write loop: ${WRITES} writes at concurrency ${CONCURRENCY}…`);
    const writer = client();
    const limit = pLimit(CONCURRENCY);
    const writeStarted = performance.now();
    await Promise.all(
      Array.from({ length: WRITES }, (_, i) =>
        limit(() => writer.kv('secret').write(`bench/ceiling/${i % 2000}`, { v: String(i) })),
      ),
    );
    const writeSeconds = (performance.now() - writeStarted) / 1000;
    const writeRate = WRITES / writeSeconds;
    await writer.close();

    // 2. The published procedure's loop over a sample of tenants, with sealwatch's Vault calls.
    progress(`sequential loop over ${BASELINE_TENANTS} tenants…`);
    const sequential = client();
    const seqRotators = rotators();
    const tenants = Array.from({ length: TENANTS }, (_, i) => `tenant-${String(i + 1).padStart(4, '0')}`);
    const seqStarted = performance.now();
    const seqRequestsBefore = sequential.transport.requestCount;
    let seqSecrets = 0;
    for (const tenant of tenants.slice(0, BASELINE_TENANTS)) {
      for (const kind of KINDS) {
        const paths =
          kind === 'apikey'
            ? (await sequential.kv('secret').list(`api_keys/${tenant}`)).map((k) => `api_keys/${tenant}/${k}`)
            : [`tenants/${tenant}/${kind}`];
        for (const rel of paths) {
          await rotateSequentially(sequential, seqRotators[kind], tenant, kind, rel);
          seqSecrets++;
        }
      }
    }
    const seqSeconds = (performance.now() - seqStarted) / 1000;
    const seqTenantsPerSecond = BASELINE_TENANTS / seqSeconds;
    const seqRequests = sequential.transport.requestCount - seqRequestsBefore;
    const seqRequestsPerSecret = seqRequests / seqSecrets;
    const seqRequestRate = seqRequests / seqSeconds;
    await sequential.close();
    // The loop revoked the sample's API keys; give them keys again so both arms rotate the same data.
    const reseed = client();
    await Promise.all(
      tenants.slice(0, BASELINE_TENANTS).map((tenant, i) =>
        limit(async () => {
          for (let k = 0; k < 1 + (i % 3); k++)
            await reseed
              .kv('secret')
              .write(`api_keys/${tenant}/key-${k + 1}`, { key: randomApiKey(), scopes: 'send' });
        }),
      ),
    );
    await reseed.close();

    // 3. sealwatch rotate --all.
    progress(`sealwatch rotate --all: ${TENANTS} tenants at concurrency ${CONCURRENCY}…`);
    const sw = client();
    const store = await Store.open(join(dir, 'bench.db'));
    const base = loadConfig({ config: join(dir, 'sealwatch.yaml') }, {});
    const config = {
      ...base,
      rotation: { ...base.rotation, secrets: SECRETS, concurrency: CONCURRENCY, per_target: CONCURRENCY },
    };
    const rotation = createRotation({ vault: sw, store, config, rotators: rotators(), logger });
    const swStarted = performance.now();
    const requestsBefore = sw.transport.requestCount;
    const plan = await rotation.plan({ tenants: 'all', kinds: KINDS });
    const summary = await rotation.start({ tenants: 'all', kinds: KINDS }, plan);
    const swSeconds = (performance.now() - swStarted) / 1000;
    const swRequests = sw.transport.requestCount - requestsBefore;
    await store.close();
    await sw.close();
    await vault.close();
    if (summary.failed > 0 || summary.pending > 0)
      throw new Error(
        `sealwatch run ${summary.state}: ${summary.failed} failed, ${summary.pending} unfinished: ${JSON.stringify(summary.failures.slice(0, 3))}`,
      );

    const swTenantsPerSecond = TENANTS / swSeconds;
    const swRequestRate = swRequests / swSeconds;
    const rows = [
      ['bare KV v2 writes', `${WRITES} writes`, writeSeconds, `${writeRate.toFixed(0)} req/s`],
      [
        'sequential loop (sample)',
        `${BASELINE_TENANTS} tenants`,
        seqSeconds,
        `${seqTenantsPerSecond.toFixed(1)} tenants/s`,
      ],
      [
        'sealwatch rotate --all',
        `${TENANTS} tenants, ${summary.rotated} secrets`,
        swSeconds,
        `${swTenantsPerSecond.toFixed(1)} tenants/s, ${swRequestRate.toFixed(0)} req/s`,
      ],
    ] as const;
    console.log('\nrotate benchmark (one OpenBao node, vault-only targets)');
    for (const [name, size, seconds, rate] of rows)
      console.log(`${name.padEnd(26)} ${size.padEnd(30)} ${seconds.toFixed(2).padStart(8)} s  ${rate}`);
    console.log(
      `RSA-2048 DKIM key generation: ${keygenMsPerKey.toFixed(0)} ms per key on this machine (outside both timed arms)\n`,
    );
    console.log(
      JSON.stringify({
        bench: 'rotate',
        params: {
          tenants: TENANTS,
          concurrency: CONCURRENCY,
          baseline_tenants: BASELINE_TENANTS,
          writes: WRITES,
          kinds: KINDS,
          dkim_keys: 'pooled',
        },
        metrics: {
          tenants_per_second: round(swTenantsPerSecond),
          secrets_rotated: summary.rotated,
          seconds: round(swSeconds),
          vault_requests_per_secret: round(swRequests / summary.rotated),
          vault_requests_per_second: round(swRequestRate),
          sequential_tenants_per_second: round(seqTenantsPerSecond),
          sequential_requests_per_secret: round(seqRequestsPerSecret),
          sequential_requests_per_second: round(seqRequestRate),
          write_ceiling_requests_per_second: round(writeRate),
          dkim_keygen_ms_per_key: round(keygenMsPerKey),
        },
        ratios: {
          vs_sequential: round(swTenantsPerSecond / seqTenantsPerSecond),
          vs_write_ceiling: round(swRequestRate / writeRate),
          // What any client could gain over the loop on this server: its concurrent ceiling over the loop's rate.
          ceiling_vs_sequential: round(writeRate / seqRequestRate),
        },
      }),
    );
  } finally {
    await labDown(dir, { purge: true }).catch(() => rmSync(dir, { recursive: true, force: true }));
  }
}

/** The same Vault calls the engine makes for one secret, one await after another, no journal. */
async function rotateSequentially(
  vault: VaultClient,
  rotator: Rotator,
  tenant: string,
  kind: RotatorKind,
  rel: string,
): Promise<void> {
  const kv = vault.kv('secret');
  const ref = { tenant, kind, path: `secret/${rel}` };
  const meta = (await kv.readMetadata(rel))!;
  const previous = meta.current_version;
  const current = (await kv.read<SecretData>(rel, previous))!.data;
  const next = await rotator.generate(ref, current);
  const staged = (await kv.write(rel, next, { cas: previous })).version;
  await kv.writeMetadata(rel, {
    custom_metadata: {
      [META.state]: 'pending',
      [META.current]: String(previous),
      [META.pending]: String(staged),
    },
  });
  const input = { ref, current, next, logger, signal: new AbortController().signal };
  await rotator.apply(input);
  await rotator.verify(input);
  if (rotator.removesSecret?.(next)) {
    await rotator.finalize(input);
    await kv.deleteAll(rel);
    return;
  }
  await kv.writeMetadata(rel, {
    custom_metadata: { [META.state]: 'current', [META.current]: String(staged) },
  });
  await rotator.finalize(input);
  await kv.deleteVersions(rel, [previous]);
}

const round = (n: number) => Math.round(n * 100) / 100;

await main();
