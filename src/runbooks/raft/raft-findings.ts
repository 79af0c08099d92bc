import type { Finding } from '../finding.js';
import { apiAddressOf, serverOf, type RaftView } from './raft-view.js';

const RUN = (runbook: string) => `sealwatch runbook run ${runbook}`;

/**
 * What the raft view says about membership and leadership, as findings: nodes that do not answer,
 * are sealed or uninitialised, are not in the raft configuration; no leader or several; peers
 * autopilot calls unhealthy; views that disagree. Pure: the unit tests feed it views.
 */
export function raftFindings(view: RaftView, runbook: string): Finding[] {
  const findings: Finding[] = [];
  const configIds = view.config?.map((s) => s.node_id).sort();
  for (const n of view.nodes) {
    if (n.error) {
      findings.push({
        id: 'node-unreachable',
        severity: 'high',
        symptom: `${n.node} does not answer: ${n.error}`,
        evidence: { error: n.error },
        node: n.node,
        suggested_step: `start the node (on a lab, ${RUN(runbook)} restarts it) or check its listener`,
      });
      continue;
    }
    const seal = n.seal!;
    if (!seal.initialized) {
      findings.push({
        id: 'node-uninitialized',
        severity: 'high',
        symptom: `${n.node} is not initialised: it has not joined the raft cluster`,
        evidence: { initialized: false, version: seal.version },
        node: n.node,
        suggested_step: `${RUN(runbook)} joins it to the leader (sys/storage/raft/join) and unseals it`,
      });
      continue;
    }
    const server = serverOf(view, n.node);
    if (seal.sealed) {
      findings.push({
        id: 'node-sealed',
        severity: 'high',
        symptom: `${n.node} is sealed${server ? '' : ' and not in the raft configuration (a join may be pending)'}`,
        evidence: {
          in_raft: server !== undefined,
          ...(server ? { node_id: server.node_id } : {}),
          progress: seal.progress,
          threshold: seal.t,
        },
        node: n.node,
        suggested_step: `${RUN(runbook)} unseals it with the current key shares (which completes a pending join)`,
      });
      continue;
    }
    if (n.raftError)
      findings.push({
        id: 'raft-configuration-error',
        severity: 'medium',
        symptom: `${n.node} is unsealed but its raft configuration cannot be read: ${n.raftError}`,
        evidence: { error: n.raftError },
        node: n.node,
        suggested_step:
          "read the node's server log for storage.raft errors; a permission error needs a token that may read sys/storage/raft/configuration",
      });
    const member = view.members.find((m) => m.node === n.node);
    if (view.config && member && !server)
      findings.push({
        id: 'node-not-in-raft',
        severity: 'high',
        symptom: `${n.node} is unsealed but not in the raft configuration (removed or never joined)`,
        evidence: {
          cluster_address: member.clusterAddress,
          ...(member.nodeId ? { node_id: member.nodeId } : {}),
          raft_configuration: configIds,
          own_view: n.raft?.map((s) => s.node_id).sort() ?? null,
          rests_on: `${n.node} answers unsealed and its cluster address ${member.clusterAddress} is not among the servers of the leader's raft configuration`,
        },
        node: n.node,
        suggested_step: `${RUN(runbook)} --yes: its stale raft data is moved aside, it re-joins the leader and is unsealed`,
      });
  }

  if (view.active.length === 0)
    findings.push({
      id: 'no-leader',
      severity: 'critical',
      symptom: 'no node claims to be the active node: the cluster has no leader',
      evidence: {
        answering: view.nodes.filter((n) => !n.error).map((n) => n.node),
        unsealed: view.nodes.filter((n) => n.seal && !n.seal.sealed).map((n) => n.node),
      },
      suggested_step: `bring a quorum of voters up and unsealed: ${RUN(runbook)}`,
    });
  if (view.active.length > 1)
    findings.push({
      id: 'several-leaders',
      severity: 'critical',
      symptom: `${view.active.length} nodes claim to be the active node: ${view.active.join(', ')}`,
      evidence: {
        claimants: view.active,
        raft_leader: view.config?.find((s) => s.leader)?.node_id ?? null,
      },
      suggested_step: `${RUN(runbook)} steps down every claimant that is not the raft leader`,
    });

  const ap = view.autopilot;
  if (ap) {
    for (const server of Object.values(ap.servers)) {
      const node = apiAddressOf(view, server);
      const nodeView = node ? view.nodes.find((n) => n.node === node) : undefined;
      if (!server.healthy)
        findings.push({
          id: 'peer-unhealthy',
          severity: 'high',
          symptom: `raft peer ${server.id} (${server.address}) is unhealthy: ${server.node_status}, last contact ${server.last_contact} ago`,
          evidence: {
            node_id: server.id,
            raft_address: server.address,
            status: server.status,
            node_status: server.node_status,
            last_contact: server.last_contact,
            last_index: server.last_index,
            last_term: server.last_term,
            leader_index: ap.servers[ap.leader]?.last_index ?? null,
          },
          ...(node ? { node } : {}),
          suggested_step: nodeView?.error
            ? `the node is down: start it (on a lab, ${RUN(runbook)} restarts it), then it catches up`
            : nodeView?.seal?.sealed
              ? `${RUN(runbook)} unseals it`
              : `${RUN(runbook)} --yes removes the peer and re-joins it`,
        });
    }
    if (view.config)
      for (const s of view.config.filter((s) => !s.voter))
        findings.push({
          id: 'peer-not-voter',
          severity: 'medium',
          symptom: `raft peer ${s.node_id} is a non-voter (autopilot promotes a stable joined node)`,
          evidence: { node_id: s.node_id, raft_address: s.address, status: ap.servers[s.node_id]?.status },
          ...(apiAddressOf(view, s) ? { node: apiAddressOf(view, s)! } : {}),
          suggested_step: `wait for autopilot's server stabilization time; ${RUN(runbook)} waits for it`,
        });
    if (ap.failure_tolerance === 0 && view.nodes.length >= 3 && ap.voters.length >= 2)
      findings.push({
        id: 'quorum-at-risk',
        severity: 'medium',
        symptom: `failure tolerance is 0: losing one more voter of ${ap.voters.length} loses quorum`,
        evidence: { failure_tolerance: 0, voters: ap.voters, healthy: ap.healthy },
        suggested_step: `fix the unhealthy or missing peers first: ${RUN(runbook)}`,
      });
  } else if (view.active.length > 0)
    findings.push({
      id: 'autopilot-unavailable',
      severity: 'medium',
      symptom: `autopilot state could not be read: ${view.autopilotError ?? 'no answer'}`,
      evidence: { error: view.autopilotError ?? null },
      suggested_step: 'give the token read on sys/storage/raft/autopilot/state (or use a root token)',
    });

  if (configIds) {
    const disagree = view.nodes.filter(
      (n) =>
        n.raft &&
        n.seal &&
        !n.seal.sealed &&
        !sameIds(
          n.raft.map((s) => s.node_id),
          configIds,
        ),
    );
    if (disagree.length > 0)
      findings.push({
        id: 'raft-views-disagree',
        severity: 'medium',
        symptom: `${disagree.length} node(s) hold a raft configuration that differs from the leader's`,
        evidence: {
          leader_view: configIds,
          views: Object.fromEntries(disagree.map((n) => [n.node, n.raft!.map((s) => s.node_id).sort()])),
          rests_on: "each node's own sys/storage/raft/configuration compared with the leader's",
        },
        suggested_step: `a node whose view lacks itself was removed: ${RUN(runbook)} --yes re-joins it`,
      });
  }

  findings.push({
    id: 'raft-summary',
    severity: 'info',
    symptom: `raft: leader ${ap?.leader ?? view.config?.find((s) => s.leader)?.node_id ?? 'none'}, ${ap?.voters.length ?? view.config?.filter((s) => s.voter).length ?? 0} voter(s), failure tolerance ${ap?.failure_tolerance ?? 'unknown'}`,
    evidence: {
      active: view.active,
      leader: ap?.leader ?? view.config?.find((s) => s.leader)?.node_id ?? null,
      voters: ap?.voters ?? view.config?.filter((s) => s.voter).map((s) => s.node_id) ?? [],
      servers: view.config?.map((s) => ({ node_id: s.node_id, address: s.address, voter: s.voter })) ?? [],
      autopilot_healthy: ap?.healthy ?? null,
      failure_tolerance: ap?.failure_tolerance ?? null,
    },
    suggested_step: 'nothing to do',
  });
  return findings;
}

function sameIds(a: readonly string[], sorted: readonly string[]): boolean {
  const s = [...a].sort();
  return s.length === sorted.length && s.every((id, i) => id === sorted[i]);
}
