import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { silentLogger } from '../../src/logging/logger.js';
import { labClient, labDown, labUp } from '../../src/lab/lab.service.js';
import type { LabFile } from '../../src/lab/lab-file.js';
import { labFilePath, readLabFile } from '../../src/lab/lab-file.js';
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
    labPids(up.lab).forEach(trackPid);
  } catch (error) {
    await labDown(dir, { purge: true }).catch(() => rmSync(dir, { recursive: true, force: true }));
    throw error;
  }
  const lab = () => {
    const current = readLabFile(dir);
    labPids(current).forEach(trackPid);
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
      labPids(current).forEach(untrackPid);
    },
  };
}

/** The processes of a lab: its nodes and its mail catcher. */
const labPids = (lab: LabFile) => [...lab.nodes.map((n) => n.pid), ...(lab.mail ? [lab.mail.pid] : [])];

/** Tracks for cleanup the processes of a lab the built CLI started in `dir` (lab up, drill), if it got that far. */
export function trackCliLab(dir: string): void {
  if (existsSync(labFilePath(dir))) labPids(readLabFile(dir)).forEach(trackPid);
}

/** Stops the lab the built CLI started in `dir`, whatever state it is in, and removes the directory. */
export async function removeCliLab(dir: string): Promise<void> {
  if (existsSync(labFilePath(dir))) {
    const lab = readLabFile(dir);
    await labDown(dir, { purge: true });
    labPids(lab).forEach(untrackPid);
  }
  rmSync(dir, { recursive: true, force: true });
}
