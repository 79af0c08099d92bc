import { SealwatchError } from '../errors.js';
import type { VaultClient } from '../vault/client.js';
import {
  NotFoundError,
  PermissionDeniedError,
  UnreachableError,
  VaultError,
  VaultTimeoutError,
} from '../vault/errors.js';
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
  /** The seal's key shares and the threshold that unseals it, as the node reports them. */
  key_shares?: number;
  key_threshold?: number;
  /** Unseal progress while sealed: shares given so far of the threshold. */
  unseal_progress?: string;
  standby?: boolean;
  is_leader: boolean;
  ha_mode?: 'active' | 'standby' | 'sealed' | 'uninitialized';
  cluster_name?: string;
  raft_peers?: RaftPeerReport[];
  error?: string;
}

/** One part of the report that is read on its own: what it is, or why it could not be read. */
export interface StatusPart {
  /** Why this part could not be read, in words (null when it was read). */
  error: string | null;
}

export interface StatusReport {
  server?: { flavor: ServerFlavor; version: string };
  nodes: NodeReport[];
  leader_address: string | null;
  /** The leader line: the active node, or why there is none ("no node is active"). */
  leader: StatusPart & { address: string | null };
  /** Read from the first unsealed node that could answer; `from` is that node. */
  /** `not_raft`: the server does not use integrated storage, so it has no raft peers to show. */
  raft_configuration: StatusPart & { from: string | null; not_raft?: boolean };
  /** Autopilot health, as in `raft`. */
  autopilot: StatusPart;
  raft?: { healthy: boolean; failure_tolerance: number; voters: string[] };
  /** Whether the cluster is healthy: every node answers unsealed, one is active, raft and autopilot read healthy. */
  healthy: boolean;
  /** Why it is not healthy, one line each (empty when healthy). */
  problems: string[];
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

type StatusVault = Pick<
  VaultClient,
  'addresses' | 'health' | 'sealStatus' | 'leader' | 'raftConfiguration' | 'autopilotState' | 'serverInfo'
>;

/**
 * The state of every configured node: health and seal status (unauthenticated), leadership, and,
 * with a token, the raft peers plus autopilot health. Each part is read on its own: one that cannot
 * be read (no active node to forward to, permission) says why in its `error` and the rest is still
 * reported. Only a cluster with no usable node at all (none answers, none initialised, all sealed)
 * is a ClusterUnusableError, which carries the report too.
 */
export async function collectStatus(
  vault: StatusVault,
  options: { hasToken: boolean },
): Promise<StatusReport> {
  const notes: string[] = [];
  const nodes = await Promise.all(vault.addresses.map((address) => nodeReport(vault, address)));
  const usable = nodes.filter((n) => n.reachable && n.initialized && !n.sealed);
  const leaderNode = nodes.find((n) => n.is_leader);
  const report: StatusReport = {
    nodes,
    leader_address: leaderNode?.address ?? null,
    leader: {
      address: leaderNode?.address ?? null,
      error: leaderNode ? null : noLeaderReason(nodes, usable),
    },
    raft_configuration: { from: null, error: null },
    autopilot: { error: null },
    healthy: false,
    problems: [],
    notes,
  };

  const reachable = nodes.filter((n) => n.reachable);
  if (reachable.length > 0) {
    try {
      const info = await vault.serverInfo();
      report.server = { flavor: info.flavor, version: info.version };
    } catch (error) {
      // The per-node versions are still in the report.
      notes.push(`server flavor unknown: ${errorText(error)}`);
    }
  }

  if (usable.length === 0) {
    report.raft_configuration.error = 'no unsealed node to read it from';
    report.autopilot.error = 'no unsealed node to read it from';
  } else if (!options.hasToken) {
    const why = 'no token (set BAO_TOKEN or --token)';
    report.raft_configuration.error = why;
    report.autopilot.error = why;
    notes.push(`raft peers not shown: ${why}`);
  } else {
    await readRaft(vault, report, usable, leaderNode);
  }

  report.problems = problemsOf(report, options.hasToken);
  report.healthy = report.problems.length === 0;

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

/**
 * The raft configuration from the first unsealed node that answers (the active node first: a
 * standby forwards the read to it), then autopilot from the same node.
 */
async function readRaft(
  vault: StatusVault,
  report: StatusReport,
  usable: NodeReport[],
  leader: NodeReport | undefined,
): Promise<void> {
  const order = leader ? [leader, ...usable.filter((n) => n !== leader)] : usable;
  const failures: string[] = [];
  for (const node of order) {
    try {
      const peers = (await vault.raftConfiguration(node.address)).config.servers.map(peer);
      for (const n of usable) n.raft_peers = peers;
      report.raft_configuration.from = node.address;
      break;
    } catch (error) {
      // A storage backend other than raft answers 404 "unsupported path": nothing is wrong.
      if (error instanceof NotFoundError) {
        report.raft_configuration.not_raft = true;
        report.autopilot.error = null;
        report.notes.push(`raft: not used by ${node.address} (its storage is not integrated storage)`);
        return;
      }
      failures.push(`${node.address}: ${raftReadFailure(error, node.address)}`);
      // Permission is the token's, not the node's: asking the next node changes nothing.
      if (error instanceof PermissionDeniedError) break;
    }
  }
  if (report.raft_configuration.from === null) {
    report.raft_configuration.error = `could not read sys/storage/raft/configuration: ${failures.join('; ')}`;
    report.autopilot.error = 'not read: the raft configuration could not be read either';
    return;
  }
  let autopilot: AutopilotState;
  try {
    autopilot = await vault.autopilotState(report.raft_configuration.from);
  } catch (error) {
    report.autopilot.error = `could not read sys/storage/raft/autopilot/state: ${raftReadFailure(error, report.raft_configuration.from)}`;
    return;
  }
  report.raft = {
    healthy: autopilot.healthy,
    failure_tolerance: autopilot.failure_tolerance,
    voters: autopilot.voters,
  };
  for (const node of usable)
    for (const p of node.raft_peers ?? []) {
      const state = autopilot.servers[p.node_id];
      if (state)
        Object.assign(p, { healthy: state.healthy, status: state.status, last_contact: state.last_contact });
    }
}

/** Why a raft read asked of `asked` failed, in the operator's terms: a standby forwards it to the active node. */
function raftReadFailure(error: unknown, asked: string): string {
  if (error instanceof PermissionDeniedError)
    return 'permission denied (needs read on sys/storage/raft/configuration and sys/storage/raft/autopilot/state)';
  if (
    error instanceof VaultError &&
    /active cluster node not found|local node not active/i.test(error.message)
  )
    return 'no active node to forward the read to (leader election under way?)';
  if ((error instanceof UnreachableError || error instanceof VaultTimeoutError) && error.node !== asked)
    return `forwarded to the active node ${error.node}, which does not answer (${errorText(error)})`;
  return errorText(error);
}

function noLeaderReason(nodes: NodeReport[], usable: NodeReport[]): string {
  if (usable.length === 0) return 'no node is active: no node answers unsealed';
  return `no node is active: ${usable.length} of ${nodes.length} answer unsealed, all standby (leader election under way, or no quorum)`;
}

function problemsOf(report: StatusReport, hasToken: boolean): string[] {
  const problems: string[] = [];
  for (const n of report.nodes) {
    if (!n.reachable) problems.push(`${n.address} does not answer: ${n.error ?? 'unreachable'}`);
    else if (n.initialized === false) problems.push(`${n.address} is not initialised`);
    else if (n.sealed) problems.push(`${n.address} is sealed`);
  }
  if (report.leader.error) problems.push(`no leader: ${report.leader.error}`);
  if (hasToken) {
    if (report.raft_configuration.error)
      problems.push(`raft configuration: ${report.raft_configuration.error}`);
    else if (report.autopilot.error) problems.push(`autopilot: ${report.autopilot.error}`);
    else if (report.raft && !report.raft.healthy)
      problems.push('autopilot reports the raft cluster unhealthy');
  }
  return problems;
}

const errorText = (error: unknown) => (error instanceof Error ? error.message : String(error));

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
    if (seal.initialized) {
      report.key_shares = seal.n;
      report.key_threshold = seal.t;
    }
    if (seal.sealed && seal.initialized) report.unseal_progress = `${seal.progress}/${seal.t}`;
  } catch {
    // health already said what matters
  }
  if (health.initialized && !health.sealed) {
    try {
      const leader = await vault.leader(address);
      // Storage without HA (a dev server's inmem, file, or a backend with HA off): the one node
      // that answers unsealed is the active one, and sys/leader says only ha_enabled: false.
      report.is_leader = leader.ha_enabled ? leader.is_self : !health.standby;
    } catch {
      report.is_leader = !health.standby;
    }
  }
  return report;
}

function peer(server: RaftServer): RaftPeerReport {
  return { node_id: server.node_id, address: server.address, voter: server.voter, leader: server.leader };
}
