import { Command } from 'commander';
import { collectStatus, ClusterUnusableError, type StatusReport } from '../../status/status.service.js';
import type { CliContext } from '../context.js';
import { EXIT } from '../exit-codes.js';
import type { CommandRunner } from '../runner.js';
import { examples } from '../help.js';
import { errorMessage } from '../../errors.js';

export function statusCommand(run: CommandRunner): Command {
  return new Command('status')
    .description(
      'every node: version, initialised, sealed, seal type, HA role and leader, raft peers and health',
    )
    .addHelpText(
      'after',
      examples(
        'sealwatch status',
        'sealwatch --addr https://vault-1:8200,https://vault-2:8200,https://vault-3:8200 status --json',
      ),
    )
    .action(
      run(async (ctx: CliContext) => {
        const vault = ctx.vault();
        let report: StatusReport;
        try {
          report = await collectStatus(vault, { hasToken: ctx.credentials().token !== undefined });
        } catch (error) {
          if (!(error instanceof ClusterUnusableError)) throw error;
          // Show what was seen, then fail with the one-line reason; with --json the reason is part
          // of the one JSON document on stdout.
          if (ctx.json) {
            ctx.out.json({ ...error.report, error: { code: error.code, message: error.message } });
            ctx.out.error(`sealwatch: ${error.message}`);
            return EXIT.failure;
          }
          render(ctx, error.report);
          throw error;
        }
        render(ctx, report);
        await recordObservations(ctx, report);
        return report.healthy ? undefined : EXIT.failure;
      }),
    );
}

async function recordObservations(ctx: CliContext, report: StatusReport): Promise<void> {
  try {
    const store = await ctx.store();
    const now = new Date().toISOString();
    await store.observations.record(
      report.nodes.map((n) => ({
        observed_at: now,
        address: n.address,
        reachable: n.reachable,
        initialized: n.initialized ?? null,
        sealed: n.sealed ?? null,
        is_leader: n.is_leader,
        version: n.version ?? null,
        seal_type: n.seal_type ?? null,
        error: n.error ?? null,
        key_shares: n.key_shares ?? null,
        key_threshold: n.key_threshold ?? null,
      })),
    );
  } catch (error) {
    // Status must work when the store does not; say so and go on.
    ctx.progress(`note: status not recorded in the store: ${errorMessage(error)}`);
  }
}

function render(ctx: CliContext, report: StatusReport): void {
  if (ctx.json) {
    ctx.out.json(report);
    return;
  }
  if (report.server) ctx.out.line(`${report.server.flavor} ${report.server.version}`);
  ctx.out.table(
    report.nodes.map((n) => ({
      address: n.address,
      version: n.version,
      initialized: n.initialized,
      sealed: n.sealed,
      seal: n.seal_type,
      role: n.reachable ? (n.is_leader ? 'leader' : n.ha_mode) : 'unreachable',
      unseal: n.unseal_progress,
      error: n.error,
    })),
    ['address', 'version', 'initialized', 'sealed', 'seal', 'role', 'unseal', 'error'],
  );
  ctx.out.line(`leader: ${report.leader.address ?? `none: ${report.leader.error ?? 'no node is active'}`}`);
  const peers = report.nodes.find((n) => n.raft_peers)?.raft_peers;
  if (peers) {
    ctx.out.line(
      `\nraft peers (from ${report.raft_configuration.from ?? '?'}${report.raft ? `; autopilot ${report.raft.healthy ? 'healthy' : 'UNHEALTHY'}, failure tolerance ${report.raft.failure_tolerance}` : `; autopilot ${report.autopilot.error ?? 'not read'}`}):`,
    );
    ctx.out.table(peers, ['node_id', 'address', 'voter', 'leader', 'healthy', 'status', 'last_contact']);
  } else if (report.raft_configuration.error) {
    ctx.out.line(`raft: ${report.raft_configuration.error}`);
  }
  if (report.problems.length > 0) {
    ctx.out.line('\nnot healthy:');
    for (const problem of report.problems) ctx.out.line(`  - ${problem}`);
  }
  for (const note of report.notes) ctx.progress(`note: ${note}`);
}
