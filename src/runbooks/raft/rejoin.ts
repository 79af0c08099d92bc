import { setTimeout as sleep } from 'node:timers/promises';
import { SealwatchError } from '../../errors.js';
import type { StepContext } from '../../playbook/step.js';
import { waitFor } from '../../util/wait.js';
import { isHealthy, type Finding } from '../finding.js';
import type { RunbookDeps } from '../runbook.js';
import { currentShares } from '../key-shares.js';
import type { NodeHost } from './node-host.js';
import { raftFindings } from './raft-findings.js';
import { diagnosisView, serverOf, type RaftView } from './raft-view.js';

export const freshView = (deps: RunbookDeps, host: NodeHost): Promise<RaftView> =>
  diagnosisView(deps.vault, host.members());

/** The API address of the active node, which a node joins (sys/storage/raft/join leader_api_addr). */
export function leaderApi(view: RaftView): string {
  const active = view.active[0];
  if (!active || view.active.length > 1)
    throw new SealwatchError(
      'no_single_leader',
      view.active.length === 0
        ? 'no node is active: a node can only join a cluster that has a leader; restore quorum first'
        : `several nodes claim leadership (${view.active.join(', ')}): step down first`,
    );
  return active;
}

/**
 * Brings one node into the raft cluster from whatever state it is in, re-checking the live state
 * at each stage (so a resumed run continues where it stopped): started if stopped, joined to the
 * leader if uninitialised, unsealed if sealed (which also completes a pending join), then waited
 * on until it is a healthy voter. Moving stale raft data aside is `reset`, decided by the caller.
 */
export async function bringIntoRaft(
  deps: RunbookDeps,
  host: NodeHost,
  node: string,
  ctx: StepContext<unknown>,
  timeoutMs: number,
): Promise<Record<string, unknown>> {
  const done: string[] = [];
  const health = () => deps.vault.health(node);
  // Not answering is the case handled below: the node is started.
  let status = await health().catch(() => undefined);
  if (!status) {
    ctx.progress(`${node}: not answering; starting it`);
    await host.start(node);
    done.push('started');
    status = await waitFor(`${node} to answer`, health, { timeoutMs: 30_000, intervalMs: 200 });
  }
  if (!status.initialized) {
    const leader = leaderApi(await freshView(deps, host));
    ctx.progress(`${node}: uninitialised; joining ${leader}`);
    const { joined } = await deps.vault.raftJoin(node, leader);
    if (!joined)
      throw new SealwatchError(
        'raft_join_refused',
        `${node} did not join ${leader} (sys/storage/raft/join answered joined: false): check that it reaches the leader's API and cluster addresses`,
        { retryable: true, details: { node, leader } },
      );
    done.push(`joined ${leader}`);
  }
  const seal = await deps.vault.sealStatus(node);
  if (seal.sealed) {
    const shares = await currentShares(deps, seal.t);
    for (const share of shares) ctx.sensitive?.(share);
    ctx.progress(`${node}: unsealing (${seal.t} of ${seal.n} shares)`);
    // A joining node takes shares only once its join request reached the leader; the last share
    // may answer "sealed" while the join completes.
    await waitFor(
      `${node} to accept the unseal key shares`,
      async () => {
        const now = await deps.vault.sealStatus(node);
        if (!now.sealed) return true;
        for (const share of shares.slice(0, now.t)) if (!(await deps.vault.unseal(node, share)).sealed) break;
        return true;
      },
      { timeoutMs: 30_000, intervalMs: 300 },
    );
    await waitFor(`${node} to be unsealed`, async () => !(await health()).sealed, {
      timeoutMs: timeoutMs,
      intervalMs: 250,
    });
    done.push('unsealed');
  }
  // Unsealed with raft data the leader no longer knows (a removed node restarted): joining needs
  // its data moved aside first, which is the caller's (destructive) decision.
  const member = await waitFor(
    `${node} to appear in the raft configuration`,
    async () => serverOf(await freshView(deps, host), node) !== undefined,
    { timeoutMs: 10_000, intervalMs: 500 },
    // Not in the configuration in time is an outcome of its own: reported as in_raft false.
  ).catch(() => false);
  if (!member) return { node, in_raft: false, done };
  const voter = await waitFor(
    `${node} to be a healthy raft voter`,
    async () => {
      const view = await freshView(deps, host);
      const server = serverOf(view, node);
      const ap = server ? view.autopilot?.servers[server.node_id] : undefined;
      return server?.voter && ap?.healthy ? server.node_id : undefined;
    },
    { timeoutMs, intervalMs: 500 },
  );
  return { node, in_raft: true, node_id: voter, done };
}

/** Waits until the raft findings have nothing above info: one leader, every voter healthy, every node in. */
export async function waitRaftHealthy(
  deps: RunbookDeps,
  host: NodeHost,
  timeoutMs: number,
  runbook: string,
): Promise<{ findings: Finding[]; seconds: number }> {
  const started = Date.now();
  let last: Finding[] = [];
  for (;;) {
    last = raftFindings(await freshView(deps, host), runbook);
    if (isHealthy(last)) return { findings: last, seconds: (Date.now() - started) / 1000 };
    if (Date.now() - started > timeoutMs)
      throw new SealwatchError(
        'raft_not_healthy',
        `raft still not healthy after ${Math.round(timeoutMs / 1000)} s: ${last
          .filter((f) => f.severity !== 'info')
          .map((f) => `${f.id}${f.node ? ` (${f.node})` : ''}`)
          .join(', ')}`,
        { retryable: true, details: { findings: last.map((f) => f.id) } },
      );
    await sleep(500);
  }
}
