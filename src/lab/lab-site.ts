import { existsSync } from 'node:fs';
import { dirname } from 'node:path';
import type { Logger } from '../logging/logger.js';
import type { KeyHolders, Site } from '../playbook/site.js';
import { stopProcess } from '../util/processes.js';
import { labShares, readLabFile, writeLabFile, type LabFile } from './lab-file.js';
import { startLabNode } from './lab.service.js';

/**
 * The lab as a site: lab.json keeps every share, the root token, each node's process and files,
 * the audit log and the applications' AppRole credentials (lab only; config `lab.file`). Every
 * call reads lab.json again: a node restarted or a rekey recorded since has changed it.
 * Undefined without a lab file in the configuration.
 */
export function labSite(labFile: string | undefined, deps: { logger: Logger }): Site | undefined {
  if (!labFile) return undefined;
  const dir = dirname(labFile);
  // A configured lab file that is gone (lab down --purge) is no lab: nothing on this host to reach.
  const lab = (): LabFile | undefined => (existsSync(labFile) ? readLabFile(dir) : undefined);
  const update = (change: (lab: LabFile) => LabFile) => writeLabFile(dir, change(readLabFile(dir)));
  return {
    keyHolders: labKeyHolders(labFile),
    nodeHosts: {
      nodes: () =>
        (lab()?.nodes ?? []).map((n) => ({
          nodeId: n.node_id,
          address: n.address,
          clusterAddress: n.cluster_address,
          pid: n.pid,
          dataDir: n.data_dir,
          configFile: n.config_file,
          logFile: n.log_file,
        })),
      stop: async (nodeId, graceMs) => {
        const node = lab()?.nodes.find((n) => n.node_id === nodeId);
        if (node) await stopProcess(node.pid, graceMs);
      },
      start: async (nodeId) => {
        await startLabNode(dir, nodeId, deps);
      },
    },
    auditLogs: { auditLogs: () => [lab()?.audit_log].filter((f) => f !== undefined) },
    applications: {
      // The applications' new secret IDs go to lab.json so the lab stays usable.
      record: (credentials) =>
        update((current) => ({
          ...current,
          apps: current.apps.map((app) => {
            const fresh = credentials.find(
              (c) => c.role === app.role && c.mount.replace(/\/$/, '') === 'approle',
            );
            return fresh ? { ...app, role_id: fresh.role_id, secret_id: fresh.secret_id } : app;
          }),
        })),
    },
  };
}

/** The lab's key holders: lab.json keeps every share and the root token (lab only). */
export function labKeyHolders(labFile: string): KeyHolders {
  const dir = dirname(labFile);
  return {
    currentShares: () => labShares(labFile),
    recordNewKeys: (keys) => {
      const lab = readLabFile(dir);
      writeLabFile(dir, {
        ...lab,
        ...(keys.shares
          ? {
              unseal_keys: [...keys.shares.values],
              key_shares: keys.shares.keyShares,
              key_threshold: keys.shares.keyThreshold,
            }
          : {}),
        ...(keys.rootToken ? { root_token: keys.rootToken } : {}),
      });
    },
  };
}
