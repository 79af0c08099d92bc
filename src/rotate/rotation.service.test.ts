import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../config/load.js';
import { silentLogger } from '../logging/logger.js';
import { Store } from '../store/store.js';
import { VaultClient } from '../vault/client.js';
import { createRotation } from './rotation.service.js';
import { createRotators } from './rotators/index.js';

/**
 * The store keeps a rotation item's kind as a name; the service reads a run back only when every
 * kind is one this sealwatch rotates.
 */
describe('a rotation run read back from the store', () => {
  let dir: string;
  let store: Store;
  // Never asked anything: status() reads the store only.
  const vault = new VaultClient({
    addresses: ['http://127.0.0.1:1'],
    timeoutMs: 1_000,
    retries: 0,
    maxConnections: 1,
    logger: silentLogger(),
  });
  const rotation = () => {
    const config = loadConfig({}, {}, dir);
    return createRotation({
      vault,
      store,
      config,
      rotators: createRotators(config.rotation, { vault, logger: silentLogger() }),
      logger: silentLogger(),
    });
  };
  const item = (kind: string) => ({
    tenant: 'acme',
    kind,
    path: `secret/tenants/acme/${kind}`,
    target: null,
    phase: 'planned' as const,
    in_phase: null,
    state: 'pending' as const,
    attempts: 0,
    previous_version: null,
    staged_version: null,
    error: null,
    error_phase: null,
    retire_after: null,
  });
  const run = (runId: string, kinds: string[]) =>
    store.rotations.createRun(
      {
        run_id: runId,
        state: 'running',
        selection: { tenants: 'all', kinds },
        options: {},
        incident_id: null,
      },
      kinds.map(item),
    );

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'sealwatch-rotation-kinds-'));
    store = await Store.open(join(dir, 'store.db'));
  });
  afterAll(async () => {
    await store.close();
    await vault.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('counts the items of known kinds', async () => {
    await run('rot-known', ['smtp', 'apikey']);
    const summary = await rotation().status('rot-known');
    expect(summary.pending).toBe(2);
  });

  it('refuses a run with a kind this sealwatch has no rotator for, naming the secret and the kind', async () => {
    await run('rot-unknown', ['smtp', 'ftp']);
    await expect(rotation().status('rot-unknown')).rejects.toMatchObject({
      code: 'rotation_kind_unknown',
      message: expect.stringContaining('secret/tenants/acme/ftp of acme has kind ftp'),
    });
  });
});
