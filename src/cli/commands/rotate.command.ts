import { Command, InvalidArgumentError } from 'commander';
import { UsageError } from '../../errors.js';
import type { EngineProgress } from '../../rotate/rotation.engine.js';
import {
  createRotation,
  type RotationPlan,
  type RotationSummary,
  type RunHooks,
} from '../../rotate/rotation.service.js';
import { ROTATOR_KINDS, type RotatorKind } from '../../rotate/rotator.js';
import { createRotators } from '../../rotate/rotators/index.js';
import type { CliContext } from '../context.js';
import { EXIT } from '../exit-codes.js';
import { progressBar } from '../progress.js';
import type { CommandRunner } from '../runner.js';
import { examples } from '../help.js';
import { rotatorKinds } from '../arguments.js';

function positive(value: string): number {
  const n = Number(value);
  if (!Number.isFinite(n) || n <= 0) throw new InvalidArgumentError('must be a positive number');
  return n;
}

const collect = (value: string, previous: string[] = []) => [
  ...previous,
  ...value
    .split(',')
    .map((v) => v.trim())
    .filter(Boolean),
];

function rotation(ctx: CliContext) {
  return ctx.store().then((store) =>
    createRotation({
      vault: ctx.vault(),
      store,
      config: ctx.config(),
      rotators: createRotators(ctx.config().rotation, { vault: ctx.vault(), logger: ctx.logger }),
      logger: ctx.logger,
    }),
  );
}

export function rotateCommand(run: CommandRunner): Command {
  const rotate = new Command('rotate')
    .description('rotate tenant secrets: stage, apply, verify, finalize — crash-safe and resumable')
    .option('--tenant <id...>', 'tenant id(s) to rotate (repeat or comma-separate)', collect)
    .option('--all', 'every tenant of the tenancy source (excluded ids left out)', false)
    .option(
      '--kinds <list>',
      `kinds to rotate (${ROTATOR_KINDS.join(',')}); default: every configured kind`,
      rotatorKinds,
    )
    .option('--concurrency <n>', 'secrets in flight at once (default rotation.concurrency)', positive)
    .option('--rate <r>', 'secrets started per second at most (default rotation.rate)', positive)
    .option('--dry-run', 'print the plan and change nothing', false)
    .addHelpText(
      'after',
      examples(
        'sealwatch rotate --all --dry-run   # the plan; nothing changes',
        'sealwatch rotate --tenant acme,globex --kinds smtp,dkim',
        'sealwatch rotate --all --concurrency 16 --rate 5 --json',
      ),
    )
    .action(
      run(
        async (
          ctx: CliContext,
          opts: {
            tenant?: string[];
            all: boolean;
            kinds?: RotatorKind[];
            concurrency?: number;
            rate?: number;
            dryRun: boolean;
          },
        ) => {
          if (opts.all === (opts.tenant !== undefined && opts.tenant.length > 0))
            throw new UsageError('say which tenants: --tenant ID... or --all (not both)');
          const service = await rotation(ctx);
          const selection = {
            tenants: opts.all ? ('all' as const) : opts.tenant!,
            ...(opts.kinds ? { kinds: opts.kinds } : {}),
            ...(opts.concurrency ? { concurrency: Math.floor(opts.concurrency) } : {}),
            ...(opts.rate ? { rate: opts.rate } : {}),
          };
          const plan = await service.plan(selection);
          if (opts.dryRun) {
            renderPlan(ctx, plan);
            return;
          }
          const summary = await withSignals(ctx, (hooks) => service.start(selection, plan, hooks));
          return renderSummary(ctx, summary);
        },
      ),
    );

  rotate
    .command('resume [run]')
    .description('finish a run after a crash, a kill or a sealed Vault (default: the newest unfinished run)')
    .option('--last', 'the newest unfinished run', false)
    .addHelpText('after', examples('sealwatch rotate resume --last'))
    .action(
      run(async (ctx: CliContext, opts: { last: boolean }, runId?: string) => {
        const service = await rotation(ctx);
        const id = runId ?? (await service.latestRunId({ unfinished: true }));
        const summary = await withSignals(ctx, (hooks) => service.resume(id, hooks));
        return renderSummary(ctx, summary);
      }),
    );

  rotate
    .command('status [run]')
    .description('counts and failures of a run (default: the newest)')
    .option('--last', 'the newest run', false)
    .addHelpText('after', examples('sealwatch rotate status --last --json'))
    .action(
      run(async (ctx: CliContext, opts: { last: boolean }, runId?: string) => {
        const service = await rotation(ctx);
        const summary = await service.status(runId ?? (await service.latestRunId()));
        renderSummary(ctx, summary);
      }),
    );

  rotate
    .command('list')
    .description('rotation runs, newest first')
    .addHelpText('after', examples('sealwatch rotate list --json'))
    .action(
      run(async (ctx: CliContext) => {
        const service = await rotation(ctx);
        const runs = await service.list();
        if (ctx.json)
          return ctx.out.json({
            runs: runs.map((r) => ({
              run_id: r.run_id,
              state: r.state,
              created_at: r.created_at,
              kinds: r.selection.kinds,
              incident_id: r.incident_id,
            })),
          });
        ctx.out.table(
          runs.map((r) => ({
            run: r.run_id,
            state: r.state,
            created: r.created_at,
            kinds: r.selection.kinds.join(','),
            tenants: r.selection.tenants === 'all' ? 'all' : r.selection.tenants.length,
          })),
        );
      }),
    );
  return rotate;
}

/** SIGINT/SIGTERM stop starting new phases; what is in flight finishes and the run stays resumable. */
async function withSignals(
  ctx: CliContext,
  start: (hooks: RunHooks) => Promise<RotationSummary>,
): Promise<RotationSummary> {
  const controller = new AbortController();
  const stop = () => {
    ctx.progress('stopping: finishing the phases in flight (the run stays resumable)');
    controller.abort();
  };
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
  const bar = progressBar(ctx.out, 'rotating');
  const counts = { rotated: 0, failed: 0 };
  try {
    return await start({
      signal: controller.signal,
      onStart: (runId, total) => ctx.progress(`run ${runId}: ${total} secrets`),
      onResume: (open, total) =>
        open < total && ctx.progress(`resuming: ${open} of ${total} secrets unfinished`),
      onProgress: (p: EngineProgress) => {
        if (p.outcome === 'rotated' || p.outcome === 'retire_pending') counts.rotated++;
        else if (p.outcome === 'failed' || p.outcome === 'rolled_back') counts.failed++;
        bar.update(p.done, p.total, `rotated ${counts.rotated} failed ${counts.failed}`);
      },
    });
  } finally {
    bar.done();
    process.off('SIGINT', stop);
    process.off('SIGTERM', stop);
  }
}

function renderPlan(ctx: CliContext, plan: RotationPlan): void {
  if (ctx.json) return ctx.out.json({ dry_run: true, ...plan });
  const byKind = new Map<string, number>();
  for (const s of plan.secrets) byKind.set(s.kind, (byKind.get(s.kind) ?? 0) + 1);
  ctx.out.line(
    `plan: ${plan.secrets.length} secrets of ${plan.tenants.length} tenants (dry run: nothing changed)`,
  );
  ctx.out.table([...byKind].map(([kind, count]) => ({ kind, secrets: count })));
  if (plan.unknown_tenants.length)
    ctx.out.line(`unknown tenants (will fail): ${plan.unknown_tenants.join(', ')}`);
  if (plan.unmatched.length)
    ctx.out.line(
      `no secret found (will be skipped): ${plan.unmatched.map((u) => `${u.tenant} ${u.kind}`).join(', ')}`,
    );
  if (plan.excluded.length) ctx.out.line(`excluded by tenancy.exclude: ${plan.excluded.join(', ')}`);
  const l = plan.limits;
  ctx.out.line(
    `limits: concurrency ${l.concurrency}, per target ${l.per_target}, rate ${l.rate || 'unlimited'}/s, ${l.attempts} attempts, grace ${l.grace_period}`,
  );
}

function renderSummary(ctx: CliContext, summary: RotationSummary): number {
  const code = summary.failed > 0 || summary.pending > 0 ? EXIT.failure : EXIT.ok;
  if (ctx.json) {
    ctx.out.json(summary);
  } else {
    ctx.out.line(
      `run ${summary.run_id}: ${summary.state} — rotated ${summary.rotated}, failed ${summary.failed} (rolled back ${summary.rolled_back}), skipped ${summary.skipped}, unfinished ${summary.pending}`,
    );
    ctx.out.table(Object.entries(summary.by_kind).map(([kind, c]) => ({ kind, ...c })));
    if (summary.failures.length) {
      ctx.out.line('\nfailures:');
      ctx.out.table(summary.failures, ['tenant', 'kind', 'phase', 'reason']);
    }
  }
  if (summary.pending > 0)
    ctx.out.error(
      `sealwatch: ${summary.pending} secrets unfinished: sealwatch rotate resume ${summary.run_id}`,
    );
  return code;
}
