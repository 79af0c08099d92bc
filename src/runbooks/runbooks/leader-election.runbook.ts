import { setTimeout as sleep } from 'node:timers/promises';
import { z } from 'zod';
import type { Step } from '../../playbook/step.js';
import { nodeHost } from '../raft/node-host.js';
import { raftFindings } from '../raft/raft-findings.js';
import { recoverNodesStep, rejoinStep, waitHealthyStep } from '../raft/raft-steps.js';
import { apiAddressOf, diagnosisView } from '../raft/raft-view.js';
import { freshView } from '../raft/rejoin.js';
import { type Diagnosis, type Runbook, type RunbookDeps } from '../runbook.js';
import { RESTART_COMMAND_FLAG, WAIT_FLAG } from '../flags.js';

const NAME = 'leader-election';

const optionsSchema = z.object({
  /** Outside a lab: the command that starts a stopped node; `{node}` becomes its address. */
  restartCommand: z.string().min(1).optional(),
  /** How long to wait for a node to join and for the cluster to be healthy. */
  waitMs: z.int().min(1_000).default(120_000),
});
type LeaderElectionOptions = z.infer<typeof optionsSchema>;

/** Several nodes claim leadership: every claimant that is not the raft leader steps down. */
function stepDownStep(
  deps: RunbookDeps,
  options: LeaderElectionOptions,
  diagnosis: Diagnosis,
): Step<LeaderElectionOptions> {
  const host = nodeHost(deps, options);
  return {
    id: 'step-down',
    title: 'Step down every node that claims leadership but is not the raft leader',
    targetSeconds: 30,
    needsApproval: false,
    skip: async (ctx) =>
      (await diagnosis(ctx)).some((f) => f.id === 'several-leaders')
        ? undefined
        : 'at most one node claims leadership',
    plan: async (ctx) =>
      (await diagnosis(ctx))
        .filter((f) => f.id === 'several-leaders')
        .map((f) => ({
          action: `step down every claimant of ${(f.evidence['claimants'] as string[]).join(', ')} except the raft leader (${String(f.evidence['raft_leader'])})`,
        })),
    run: async (ctx) => {
      const view = await freshView(deps, host);
      const raftLeader = view.config?.find((s) => s.leader);
      const keep = raftLeader ? apiAddressOf(view, raftLeader) : view.active[0];
      const stepped: string[] = [];
      for (const node of view.active.filter((n) => n !== keep)) {
        ctx.progress(`stepping down ${node}`);
        await deps.vault.stepDown(node);
        stepped.push(node);
      }
      for (let i = 0; i < 60; i++) {
        if ((await freshView(deps, host)).active.length === 1) break;
        await sleep(500);
      }
      return { evidence: { stepped_down: stepped, kept: keep ?? null } };
    },
  };
}

export const leaderElectionRunbook: Runbook<LeaderElectionOptions> = {
  name: NAME,
  title: 'Raft leader election failure',
  when: 'no leader or several; a node down, removed from raft or never joined; autopilot unhealthy; "local node not active"',
  flags: [RESTART_COMMAND_FLAG, WAIT_FLAG],
  options: optionsSchema,
  diagnose: async (deps, options) =>
    raftFindings(await diagnosisView(deps.vault, nodeHost(deps, options).members()), NAME),
  remediation: (deps, options, diagnosis) => {
    const host = nodeHost(deps, options);
    return [
      stepDownStep(deps, options, diagnosis),
      recoverNodesStep(deps, host, diagnosis, options.waitMs),
      rejoinStep(deps, host, diagnosis, options.waitMs),
      waitHealthyStep(deps, host, options.waitMs, NAME),
    ];
  },
};
