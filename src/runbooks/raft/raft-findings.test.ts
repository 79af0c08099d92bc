import { describe, expect, it } from 'vitest';
import type { AutopilotServer, HealthStatus, RaftServer, SealStatus } from '../../vault/types.js';
import { raftFindings } from './raft-findings.js';
import { rejoinTargets } from './raft-steps.js';
import type { NodeView, RaftView } from './raft-view.js';

const A = ['http://n1:8200', 'http://n2:8200', 'http://n3:8200'] as const;
const member = (i: number) => ({ node: A[i]!, clusterAddress: `n${i + 1}:8201`, nodeId: `node${i + 1}` });
const server = (i: number, extra: Partial<RaftServer> = {}): RaftServer => ({
  node_id: `node${i + 1}`,
  address: `n${i + 1}:8201`,
  leader: i === 0,
  protocol_version: '3',
  voter: true,
  ...extra,
});
const seal = (extra: Partial<SealStatus> = {}) =>
  ({ type: 'shamir', initialized: true, sealed: false, t: 3, n: 5, progress: 0, ...extra }) as SealStatus;
const node = (i: number, extra: Partial<NodeView> = {}): NodeView => ({
  node: A[i]!,
  health: {
    initialized: true,
    sealed: false,
    standby: i !== 0,
    httpStatus: i === 0 ? 200 : 429,
  } as HealthStatus,
  seal: seal(),
  raft: [0, 1, 2].map((j) => server(j)),
  ...extra,
});
const ap = (i: number, extra: Partial<AutopilotServer> = {}): AutopilotServer => ({
  id: `node${i + 1}`,
  name: `node${i + 1}`,
  address: `n${i + 1}:8201`,
  node_status: 'alive',
  last_contact: '0.5s',
  last_term: 3,
  last_index: 100,
  healthy: true,
  stable_since: '',
  status: i === 0 ? 'leader' : 'voter',
  ...extra,
});
function view(extra: Partial<RaftView> = {}): RaftView {
  return {
    nodes: [node(0), node(1), node(2)],
    active: [A[0]],
    config: [0, 1, 2].map((j) => server(j)),
    autopilot: {
      healthy: true,
      failure_tolerance: 1,
      leader: 'node1',
      voters: ['node1', 'node2', 'node3'],
      servers: { node1: ap(0), node2: ap(1), node3: ap(2) },
    },
    members: [member(0), member(1), member(2)],
    ...extra,
  };
}
const problems = (v: RaftView) =>
  raftFindings(v, 'leader-election')
    .filter((f) => f.severity !== 'info')
    .map((f) => [f.id, f.node ?? null]);

describe('raftFindings', () => {
  it('finds nothing wrong in a healthy three-voter cluster, and summarises it', () => {
    const findings = raftFindings(view(), 'leader-election');
    expect(findings.map((f) => f.id)).toEqual(['raft-summary']);
    expect(findings[0]!.evidence).toMatchObject({
      leader: 'node1',
      failure_tolerance: 1,
      autopilot_healthy: true,
    });
  });

  it('a dead peer: unreachable, unhealthy in autopilot with its last contact, quorum at risk', () => {
    const v = view({
      nodes: [node(0), node(1), { node: A[2], error: 'connection refused' }],
      autopilot: {
        ...view().autopilot!,
        healthy: false,
        failure_tolerance: 0,
        servers: { node1: ap(0), node2: ap(1), node3: ap(2, { healthy: false, last_contact: '14s' }) },
      },
    });
    expect(problems(v)).toEqual([
      ['node-unreachable', A[2]],
      ['peer-unhealthy', A[2]],
      ['quorum-at-risk', null],
    ]);
    const peer = raftFindings(v, 'leader-election').find((f) => f.id === 'peer-unhealthy')!;
    expect(peer.evidence).toMatchObject({ node_id: 'node3', last_contact: '14s' });
    expect(peer.suggested_step).toMatch(/start/);
  });

  it('no leader and several leaders are critical', () => {
    expect(problems(view({ active: [] }))).toEqual([['no-leader', null]]);
    const two = raftFindings(view({ active: [A[0], A[1]] }), 'leader-election').find(
      (f) => f.id === 'several-leaders',
    );
    expect(two).toMatchObject({
      severity: 'critical',
      evidence: { claimants: [A[0], A[1]], raft_leader: 'node1' },
    });
  });

  it('an unsealed node missing from the configuration is not joined; its own view lacks itself', () => {
    const config = [server(0), server(1)];
    const v = view({
      config,
      nodes: [node(0, { raft: config }), node(1, { raft: config }), node(2, { raft: config })],
      autopilot: {
        ...view().autopilot!,
        voters: ['node1', 'node2'],
        servers: { node1: ap(0), node2: ap(1) },
      },
    });
    const found = raftFindings(v, 'leader-election').find((f) => f.id === 'node-not-in-raft');
    expect(found).toMatchObject({ node: A[2], evidence: { node_id: 'node3', own_view: ['node1', 'node2'] } });
    expect(rejoinTargets(v)).toEqual({ stale: [A[2]], unhealthy: [] });
  });

  it('sealed and uninitialised nodes are named; a sealed node says whether it is a member', () => {
    const v = view({
      nodes: [
        node(0),
        node(1, { seal: seal({ sealed: true, progress: 1 }) }),
        node(2, { seal: seal({ initialized: false }) }),
      ],
    });
    const findings = raftFindings(v, 'leader-election');
    expect(findings.find((f) => f.id === 'node-sealed')).toMatchObject({
      node: A[1],
      evidence: { in_raft: true, node_id: 'node2', progress: 1 },
    });
    expect(findings.find((f) => f.id === 'node-uninitialized')?.node).toBe(A[2]);
    // Neither is a target for the destructive rejoin: unsealing or joining is enough.
    expect(rejoinTargets(v)).toEqual({ stale: [], unhealthy: [] });
  });

  it('a non-voter and disagreeing views are medium; an unhealthy answering member is a rejoin target', () => {
    const v = view({
      config: [server(0), server(1), server(2, { voter: false })],
      nodes: [node(0), node(1, { raft: [server(0), server(1)] }), node(2)],
      autopilot: {
        ...view().autopilot!,
        servers: { node1: ap(0), node2: ap(1), node3: ap(2, { healthy: false }) },
      },
    });
    expect(problems(v)).toEqual([
      ['peer-unhealthy', A[2]],
      ['peer-not-voter', A[2]],
      ['raft-views-disagree', null],
    ]);
    expect(rejoinTargets(v).unhealthy).toEqual([{ node: A[2], node_id: 'node3' }]);
  });

  it('an unsealed node whose raft configuration cannot be read is a raft error', () => {
    const v = view({ nodes: [node(0), node(1, { raftError: 'internal error' }), node(2)] });
    expect(problems(v)).toEqual([['raft-configuration-error', A[1]]]);
  });

  it('a token that cannot read autopilot is reported, not thrown', () => {
    const v = view({ autopilotError: 'permission denied' });
    delete v.autopilot;
    expect(problems(v)).toEqual([['autopilot-unavailable', null]]);
  });
});
