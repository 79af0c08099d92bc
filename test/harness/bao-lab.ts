import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { silentLogger } from '../../src/logging/logger.js';
import { labClient, labDown, labUp } from '../../src/lab/lab.service.js';
import type { LabFile } from '../../src/lab/lab-file.js';
import { readLabFile } from '../../src/lab/lab-file.js';
import type { VaultClient } from '../../src/vault/client.js';
import { trackPid, untrackPid } from './cleanup.js';

export interface TestLab {
  dir: string;
  configFile: string;
  lab(): LabFile;
  /** A root-token client for all nodes (the caller closes it, or stop() does). */
  client(): VaultClient;
  stop(): Promise<void>;
}

/**
 * A real OpenBao lab (server mode, raft, Shamir 5/3, audit device, seeded tenants) in a temp dir,
 * started through the same code as `sealwatch lab up`. stop() kills it and removes the dir.
 */
export async function startTestLab(
  options: { nodes?: 1 | 3; tenants?: number; auditSocket?: string } = {},
): Promise<TestLab> {
  const dir = mkdtempSync(join(tmpdir(), 'sealwatch-lab-'));
  const logger = silentLogger();
  const clients: VaultClient[] = [];
  try {
    const up = await labUp(
      { dir, nodes: options.nodes ?? 1, tenants: options.tenants ?? 5, auditSocket: options.auditSocket },
      { logger },
    );
    up.lab.nodes.forEach((n) => trackPid(n.pid));
    if (up.lab.mail) trackPid(up.lab.mail.pid);
  } catch (error) {
    await labDown(dir, { purge: true }).catch(() => rmSync(dir, { recursive: true, force: true }));
    throw error;
  }
  const lab = () => {
    const current = readLabFile(dir);
    current.nodes.forEach((n) => trackPid(n.pid));
    if (current.mail) trackPid(current.mail.pid);
    return current;
  };
  return {
    dir,
    configFile: join(dir, 'sealwatch.yaml'),
    lab,
    client: () => {
      const current = lab();
      const client = labClient(current.nodes, current.root_token, logger);
      clients.push(client);
      return client;
    },
    stop: async () => {
      await Promise.all(clients.map((c) => c.close().catch(() => undefined)));
      const current = readLabFile(dir);
      await labDown(dir, { purge: true });
      current.nodes.forEach((n) => untrackPid(n.pid));
      if (current.mail) untrackPid(current.mail.pid);
    },
  };
}
