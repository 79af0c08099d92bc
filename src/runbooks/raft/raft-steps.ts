import { setTimeout as sleep } from 'node:timers/promises';
import { SealwatchError } from '../../errors.js';
import type { Step } from '../../playbook/step.js';
import type { Finding } from '../finding.js';
import type { Diagnosis, RunbookDeps } from '../runbook.js';
import type { NodeHost } from './node-host.js';
import { bringIntoRaft, freshView, leaderApi, waitRaftHealthy } from './rejoin.js';
import { serverOf, type RaftView } from './raft-view.js';

/** Nodes a rejoin would touch, from a live view. */
export interface RejoinTargets {
  /** Unsealed and initialised but not in the leader's raft configuration: their raft data is stale. */
  stale: string[];
  /** In the configuration, answering and unsealed, yet autopilot calls them unhealthy. */
  unhealthy: { node: string; node_id: string }[];
}

export function rejoinTargets(view: RaftView): RejoinTargets {
  const stale: string[] = [];
  const unhealthy: { node: string; node_id: string }[] = [];
  for (const n of view.nodes) {
    if (n.error || !n.seal?.initialized || n.seal.sealed || !view.config) continue;
    if (!view.members.some((m) => m.node === n.node)) continue;
    const server = serverOf(view, n.node);
    if (!server) stale.push(n.node);
    else if (view.autopilot?.servers[server.node_id]?.healthy === false)
      unhealthy.push({ node: n.node, node_id: server.node_id });
  }
  return { stale, unhealthy };
}

const ids = (findings: readonly Finding[], ...wanted: string[]) =>
  findings.filter((f) => wanted.includes(f.id) && f.node !== undefined);

/** Starts stopped nodes, joins uninitialised ones and unseals sealed ones; waits for each to be a healthy voter. */
export function recoverNodesStep<O>(
  deps: RunbookDeps,
  host: NodeHost,
  diagnosis: Diagnosis,
  waitMs: number,
): Step<O> {
  const targets = (findings: readonly Finding[]) =>
    ids(findings, 'node-unreachable', 'node-uninitialized', 'node-sealed').filter(
      (f) => f.id !== 'node-unreachable' || host.canStart(f.node!),
    );
  return {
    id: 'recover-nodes',
    title: 'Start stopped nodes, join uninitialised ones, unseal sealed ones',
    targetSeconds: 120,
    needsApproval: false,
    skip: async (ctx) =>
      targets(await diagnosis(ctx)).length > 0
        ? undefined
        : 'every node answers, is initialised and unsealed',
    plan: async (ctx) =>
      targets(await diagnosis(ctx)).map((f) => ({
        action:
          f.id === 'node-unreachable'
            ? `start ${f.node}, unseal it and wait for it to catch up`
            : f.id === 'node-uninitialized'
              ? `join ${f.node} to the leader (sys/storage/raft/join) and unseal it`
              : `unseal ${f.node} with the current key shares`,
      })),
    run: async (ctx) => {
      const nodes = [...new Set(targets(await diagnosis(ctx)).map((f) => f.node!))];
      const results = [];
      // One at a time: each join and unseal changes the membership the next one sees.
      for (const node of nodes) results.push(await bringIntoRaft(deps, host, node, ctx, waitMs));
      return { evidence: { nodes: results } };
    },
  };
}

/**
 * The destructive repair: a node removed from the configuration (or one that stays unhealthy while
 * it answers) has its peer removed, its stale raft data moved aside, and joins again empty.
 */
export function rejoinStep<O>(
  deps: RunbookDeps,
  host: NodeHost,
  diagnosis: Diagnosis,
  waitMs: number,
  options: {
    id?: string;
    /** Nodes the diagnosis marked corrupted (storage): re-joined even if they look healthy. */
    corrupted?: (findings: readonly Finding[]) => string[];
    /** Refuse to run unless this says a snapshot exists (storage: snapshot first). */
    precondition?: (ctx: Parameters<Step<O>['run']>[0]) => Promise<void>;
  } = {},
): Step<O> {
  const corrupted = options.corrupted ?? (() => []);
  const live = async (findings: readonly Finding[]) => {
    const view = await freshView(deps, host);
    const t = rejoinTargets(view);
    const extra = corrupted(findings).filter(
      (n) => !t.stale.includes(n) && !t.unhealthy.some((u) => u.node === n),
    );
    return { view, ...t, corrupted: extra };
  };
  return {
    id: options.id ?? 'rejoin',
    title: 'Remove stale or unhealthy peers and re-join them with fresh raft data',
    targetSeconds: 180,
    needsApproval: true,
    skip: async (ctx) => {
      const t = await live(await diagnosis(ctx));
      return t.stale.length + t.unhealthy.length + t.corrupted.length > 0
        ? undefined
        : 'every answering node is a healthy member of the raft configuration';
    },
    plan: async (ctx) => {
      const t = await live(await diagnosis(ctx));
      return [
        ...t.stale.map((node) => ({
          action: `${node} is not in the raft configuration: stop it, move its raft data aside, start it, join and unseal it`,
          destructive: true,
        })),
        ...[
          ...t.unhealthy,
          ...t.corrupted.map((node) => ({ node, node_id: serverOf(t.view, node)?.node_id })),
        ].map((u) => ({
          action: `remove raft peer ${u.node_id ?? '(not in the configuration)'} (${u.node}), move its raft data aside, re-join and unseal it`,
          destructive: true,
        })),
      ];
    },
    run: async (ctx) => {
      await options.precondition?.(ctx);
      const findings = await diagnosis(ctx);
      let t = await live(findings);
      // A node that was just unsealed or restarted is unhealthy for a moment: only a peer that stays
      // unhealthy for 15 s is removed.
      for (let i = 0; i < 15 && t.unhealthy.length > 0; i++) {
        await sleep(1_000);
        const again = await live(findings);
        t = {
          ...again,
          unhealthy: again.unhealthy.filter((u) => t.unhealthy.some((x) => x.node === u.node)),
        };
      }
      const results: Record<string, unknown>[] = [];
      const leader = leaderApi(t.view);
      const toRemove = [
        ...t.unhealthy,
        ...t.corrupted.flatMap((node) => {
          const server = serverOf(t.view, node);
          return server ? [{ node, node_id: server.node_id }] : [];
        }),
      ];
      for (const u of toRemove) {
        if (u.node === leader) {
          // Never remove the leader out from under itself: hand leadership over first.
          ctx.progress(`${u.node} leads: stepping it down before removing it`);
          await deps.vault.stepDown(u.node);
          await sleep(2_000);
        }
        ctx.progress(`removing raft peer ${u.node_id} (${u.node})`);
        await deps.vault.raftRemovePeer(u.node_id);
      }
      for (const node of [...t.stale, ...toRemove.map((u) => u.node), ...t.corrupted]) {
        if (results.some((r) => r['node'] === node)) continue;
        // A node that does not answer has no live raft data to move; it is rejoined below and reported there.
        const status = await deps.vault.health(node).catch(() => undefined);
        // Unsealed with raft data the cluster no longer knows: the data must go before a join.
        // (A wiped node comes back sealed or uninitialised: nothing to move.)
        let movedTo: string | undefined;
        if (status?.initialized && !status.sealed) {
          ctx.progress(`${node}: moving its stale raft data aside and restarting it`);
          movedTo = (await host.reset(node)).moved_to;
        }
        const joined = await bringIntoRaft(deps, host, node, ctx, waitMs);
        if (!joined['in_raft'])
          throw new SealwatchError(
            'rejoin_failed',
            `${node} did not join the raft configuration after its data was moved aside; check its server log`,
            { retryable: true, details: { node } },
          );
        results.push({ ...joined, ...(movedTo ? { stale_data_moved_to: movedTo } : {}) });
      }
      return { evidence: { removed: toRemove.map((u) => u.node_id), rejoined: results } };
    },
  };
}

/** Waits until there is exactly one leader and every voter is healthy (autopilot), every node in. */
export function waitHealthyStep<O>(
  deps: RunbookDeps,
  host: NodeHost,
  waitMs: number,
  runbook: string,
): Step<O> {
  return {
    id: 'wait-healthy',
    title: 'Wait for one leader and every voter healthy',
    targetSeconds: 60,
    needsApproval: false,
    plan: async () => [
      { action: 'poll raft configuration and autopilot until one leader and every voter is healthy' },
    ],
    run: async () => {
      const { findings, seconds } = await waitRaftHealthy(deps, host, waitMs, runbook);
      const summary = findings.find((f) => f.id === 'raft-summary');
      return { evidence: { seconds, ...(summary?.evidence ?? {}) } };
    },
  };
}
