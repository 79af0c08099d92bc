import { SealwatchError } from '../errors.js';
import type { VaultClient } from '../vault/client.js';
import { PermissionDeniedError, VaultError } from '../vault/errors.js';
import type { AutopilotState, RaftServer, ServerFlavor } from '../vault/types.js';

export interface RaftPeerReport {
  node_id: string;
  address: string;
  voter: boolean;
  leader: boolean;
  healthy?: boolean;
  status?: string;
  last_contact?: string;
}

export interface NodeReport {
  address: string;
  reachable: boolean;
  version?: string;
  initialized?: boolean;
  sealed?: boolean;
  seal_type?: string;
  /** Unseal progress while sealed: shares given so far of the threshold. */
  unseal_progress?: string;
  standby?: boolean;
  is_leader: boolean;
  ha_mode?: 'active' | 'standby' | 'sealed' | 'uninitialized';
  cluster_name?: string;
  raft_peers?: RaftPeerReport[];
  error?: string;
}

export interface StatusReport {
  server?: { flavor: ServerFlavor; version: string };
  nodes: NodeReport[];
  leader_address: string | null;
  raft?: { healthy: boolean; failure_tolerance: number; voters: string[] };
  /** Why a part of the report is missing (no token, …). */
  notes: string[];
}

export class ClusterUnusableError extends SealwatchError {
  constructor(
    message: string,
    readonly report: StatusReport,
  ) {
    super('cluster_unusable', message);
  }
}

/**
 * The state of every configured node: health and seal status (unauthenticated), leadership, and,
 * with a token, the raft peers each unsealed node sees plus autopilot health.
 */
export async function collectStatus(
  vault: Pick<
    VaultClient,
    'addresses' | 'health' | 'sealStatus' | 'leader' | 'raftConfiguration' | 'autopilotState' | 'serverInfo'
  >,
  options: { hasToken: boolean },
): Promise<StatusReport> {
  const notes: string[] = [];
  const nodes = await Promise.all(vault.addresses.map((address) => nodeReport(vault, address)));
  const usable = nodes.filter((n) => n.reachable && n.initialized && !n.sealed);
  const report: StatusReport = { nodes, leader_address: null, notes };

  const reachable = nodes.filter((n) => n.reachable);
  if (reachable.length > 0) {
    try {
      const info = await vault.serverInfo();
      report.server = { flavor: info.flavor, version: info.version };
    } catch {
      // The per-node versions are still in the report.
    }
  }
  const leader = nodes.find((n) => n.is_leader);
  report.leader_address = leader?.address ?? null;

  if (usable.length > 0 && options.hasToken) {
    await Promise.all(
      usable.map(async (node) => {
        node.raft_peers = (await vault.raftConfiguration(node.address)).config.servers.map(peer);
      }),
    );
    let autopilot: AutopilotState | undefined;
    try {
      autopilot = await vault.autopilotState();
    } catch (error) {
      if (error instanceof PermissionDeniedError) throw error;
      notes.push(`autopilot state unavailable: ${(error as Error).message}`);
    }
    if (autopilot) {
      report.raft = {
        healthy: autopilot.healthy,
        failure_tolerance: autopilot.failure_tolerance,
        voters: autopilot.voters,
      };
      for (const node of usable) {
        for (const p of node.raft_peers ?? []) {
          const state = autopilot.servers[p.node_id];
          if (state)
            Object.assign(p, {
              healthy: state.healthy,
              status: state.status,
              last_contact: state.last_contact,
            });
        }
      }
    }
  } else if (usable.length > 0) {
    notes.push('raft peers not shown: no token (set BAO_TOKEN or --token)');
  }

  if (reachable.length === 0)
    throw new ClusterUnusableError(
      `no node answered: ${nodes.map((n) => `${n.address} (${n.error ?? 'unreachable'})`).join(', ')}`,
      report,
    );
  if (reachable.every((n) => n.initialized === false))
    throw new ClusterUnusableError(
      `not initialised: ${reachable.map((n) => n.address).join(', ')} — initialise it (bao operator init) or point --addr at an initialised cluster`,
      report,
    );
  if (usable.length === 0)
    throw new ClusterUnusableError(
      `every node is sealed: ${reachable.map((n) => n.address).join(', ')} — unseal with threshold key shares (sealwatch runbook run sealed)`,
      report,
    );
  return report;
}

async function nodeReport(
  vault: Pick<VaultClient, 'health' | 'sealStatus' | 'leader'>,
  address: string,
): Promise<NodeReport> {
  let health;
  try {
    health = await vault.health(address);
  } catch (error) {
    return {
      address,
      reachable: false,
      is_leader: false,
      error: error instanceof VaultError ? error.message.split(' — ')[0] : String(error),
    };
  }
  const report: NodeReport = {
    address,
    reachable: true,
    version: health.version,
    initialized: health.initialized,
    sealed: health.sealed,
    standby: health.standby,
    is_leader: false,
    ha_mode: !health.initialized
      ? 'uninitialized'
      : health.sealed
        ? 'sealed'
        : health.standby
          ? 'standby'
          : 'active',
    ...(health.cluster_name ? { cluster_name: health.cluster_name } : {}),
  };
  try {
    const seal = await vault.sealStatus(address);
    report.seal_type = seal.type;
    if (seal.sealed && seal.initialized) report.unseal_progress = `${seal.progress}/${seal.t}`;
  } catch {
    // health already said what matters
  }
  if (health.initialized && !health.sealed) {
    try {
      const leader = await vault.leader(address);
      report.is_leader = leader.is_self;
    } catch {
      report.is_leader = !health.standby;
    }
  }
  return report;
}

function peer(server: RaftServer): RaftPeerReport {
  return { node_id: server.node_id, address: server.address, voter: server.voter, leader: server.leader };
}
