import type { VaultClient } from '../../vault/client.js';
import type { AutopilotState, LeaderStatus, RaftServer } from '../../vault/types.js';
import { probeNodes, shortError, type NodeProbe } from '../nodes.js';

/** One configured node as it answered: health and seal status, who it says leads, its own raft view. */
export interface NodeView extends NodeProbe {
  leader?: LeaderStatus;
  /**
   * This node's own raft configuration. Each node answers from its local copy, so views can
   * disagree: a node removed from the cluster keeps a stale view (with or without itself: the
   * removal is not always replicated to the node removed).
   */
  raft?: RaftServer[];
  raftError?: string;
}

/** A configured API address and the raft server behind it (cluster host:port, node id when known). */
export interface Member {
  node: string;
  clusterAddress: string;
  nodeId?: string;
}

export interface RaftView {
  nodes: NodeView[];
  /** API addresses of the nodes that say they are the active node (sys/health 200 or sys/leader is_self). */
  active: string[];
  /** The raft configuration as the active node holds it (the one every follower converges to). */
  config?: RaftServer[];
  autopilot?: AutopilotState;
  /** Why no autopilot state could be read from any node. */
  autopilotError?: string;
  /** Configured API address → raft server, from sys/ha-status and the lab file. */
  members: Member[];
}

interface HaStatusNode {
  api_address: string;
  cluster_address: string;
  active_node: boolean;
}

type ViewVault = Pick<
  VaultClient,
  'addresses' | 'health' | 'sealStatus' | 'leader' | 'raftConfiguration' | 'autopilotState' | 'read'
>;

/** `https://127.0.0.1:8201/` → `127.0.0.1:8201`: how raft names a server's address. */
export function hostPort(address: string): string {
  return address.replace(/^[a-z]+:\/\//i, '').replace(/\/+$/, '');
}

const trimSlash = (address: string) => address.replace(/\/+$/, '');

async function settle<T>(work: () => Promise<T>): Promise<{ value?: T; error?: string }> {
  try {
    return { value: await work() };
  } catch (error) {
    return { error: shortError(error) };
  }
}

/**
 * Asks every configured node at once for health, seal status, leader, its raft configuration,
 * autopilot state and HA status. Nothing waits for anything else, so a node that hangs costs one
 * client timeout in total; every failure is recorded, none is thrown.
 */
export async function collectRaftView(vault: ViewVault, known: readonly Member[] = []): Promise<RaftView> {
  const perNode = await Promise.all(
    vault.addresses.map(async (node) => {
      const [[probe], leader, raft, autopilot, ha] = await Promise.all([
        probeNodes({
          addresses: [node],
          health: (n) => vault.health(n),
          sealStatus: (n) => vault.sealStatus(n),
        }),
        settle(() => vault.leader(node)),
        settle(() => vault.raftConfiguration(node)),
        settle(() => vault.autopilotState(node)),
        settle(
          async () => (await vault.read<{ nodes: HaStatusNode[] }>('sys/ha-status', { node })).data.nodes,
        ),
      ]);
      const view: NodeView = {
        ...probe!,
        ...(leader.value ? { leader: leader.value } : {}),
        ...(raft.value ? { raft: raft.value.config.servers } : {}),
        ...(raft.error ? { raftError: raft.error } : {}),
      };
      return { view, autopilot, ha };
    }),
  );
  const nodes = perNode.map((p) => p.view);
  const active = nodes
    .filter((n) => (n.health && !n.health.sealed && !n.health.standby) || n.leader?.is_self === true)
    .map((n) => n.node);
  const fromActive = perNode.find((p) => active.includes(p.view.node));
  const config = fromActive?.view.raft ?? perNode.find((p) => p.view.raft?.some((s) => s.leader))?.view.raft;
  // Standbys forward autopilot and HA status to the active node: any answer is the leader's.
  const autopilot = (fromActive?.autopilot.value ? fromActive : perNode.find((p) => p.autopilot.value))
    ?.autopilot.value;
  const ha = perNode.flatMap((p) => p.ha.value ?? []);
  const members = new Map<string, Member>();
  for (const h of ha)
    members.set(trimSlash(h.api_address), {
      node: trimSlash(h.api_address),
      clusterAddress: hostPort(h.cluster_address),
    });
  for (const k of known) {
    const seen = members.get(trimSlash(k.node));
    members.set(trimSlash(k.node), { ...seen, ...k, node: trimSlash(k.node) });
  }
  for (const m of members.values()) {
    const server = config?.find((s) => s.address === m.clusterAddress);
    if (server && !m.nodeId) m.nodeId = server.node_id;
  }
  return {
    nodes,
    active,
    ...(config ? { config } : {}),
    ...(autopilot ? { autopilot } : {}),
    ...(!autopilot
      ? { autopilotError: perNode.map((p) => p.autopilot.error).find((e) => e) ?? 'no node answered' }
      : {}),
    members: [...members.values()],
  };
}

/** The configured API address of a raft server, when the view can tell. */
export function apiAddressOf(view: RaftView, server: { id?: string; node_id?: string; address: string }) {
  const id = server.node_id ?? server.id;
  return view.members.find((m) => m.clusterAddress === server.address || (id && m.nodeId === id))?.node;
}

/** The raft server behind a configured API address, in the active node's configuration. */
export function serverOf(view: RaftView, node: string): RaftServer | undefined {
  const member = view.members.find((m) => m.node === node);
  if (!member) return undefined;
  return view.config?.find(
    (s) =>
      s.address === member.clusterAddress || (member.nodeId !== undefined && s.node_id === member.nodeId),
  );
}

/** How long one node may take to answer a diagnosis request, in `runbook diagnose` and inside a run alike. */
export const DIAGNOSIS_TIMEOUT_MS = 2_500;

/**
 * collectRaftView through a client with the diagnosis limits (short timeout, no retries), so that a
 * node that hangs costs seconds even inside `runbook run`, whose client waits and retries longer.
 */
export async function diagnosisView(
  vault: Pick<VaultClient, 'withLimits'>,
  known: readonly Member[] = [],
): Promise<RaftView> {
  const quick = vault.withLimits({ timeoutMs: DIAGNOSIS_TIMEOUT_MS, retries: 0 });
  try {
    return await collectRaftView(quick, known);
  } finally {
    await quick.close();
  }
}
