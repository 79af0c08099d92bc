import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { Command, Option } from 'commander';
import { simulateAttack } from '../../drill/simulated-attack.js';
import { labDown, labUp } from '../../lab/lab.service.js';
import { labFilePath } from '../../lab/lab-file.js';
import { labTenantId } from '../../lab/layout.js';
import { approveAll } from '../../playbook/playbook.engine.js';
import { createIncidents } from '../../playbook/incident.service.js';
import { breachPlaybook } from '../../respond/breach.playbook.js';
import { CliContext } from '../context.js';
import { PLAYBOOKS } from '../playbooks.js';
import type { CommandRunner } from '../runner.js';
import { positiveInt } from '../arguments.js';
import { playbookRuntime } from '../runtime.js';
import { breachOptions } from './respond.command.js';
import { renderRunResult } from './incident.command.js';
import { examples } from '../help.js';

export const DEFAULT_DRILL_DIR = '.sealwatch/drill';

/**
 * The demo and the disaster-recovery drill in one: a fresh lab, an attacker with stolen
 * application credentials, and `respond breach --yes` run against it with the lab's key holders,
 * ending with the report and its RTO table.
 */
export function drillCommand(run: CommandRunner): Command {
  return new Command('drill')
    .description(
      'a simulated breach on a fresh local lab, answered end to end by respond breach (the demo and the DR drill)',
    )
    .addOption(new Option('--nodes <n>', 'lab nodes').choices(['1', '3']).default('3'))
    .option('--tenants <n>', 'tenants to seed', positiveInt, 50)
    .option('--attacked <n>', 'tenants whose secrets the attacker reads', positiveInt, 6)
    .option('--dir <dir>', 'drill lab directory (replaced at every drill)', DEFAULT_DRILL_DIR)
    .option('--down', 'stop the lab when the drill ends', false)
    .addHelpText(
      'after',
      examples('sealwatch drill', 'sealwatch drill --nodes 1 --tenants 200 --attacked 20 --down --json'),
    )
    .action(
      run(
        async (
          ctx: CliContext,
          opts: { nodes: string; tenants: number; attacked: number; dir: string; down: boolean },
        ) => {
          const dir = resolve(opts.dir);
          if (existsSync(labFilePath(dir))) {
            ctx.progress(`replacing the previous drill lab in ${dir}`);
            await labDown(dir, { purge: true });
          }
          const startedAt = new Date(Date.now() - 1000);
          const up = await labUp(
            { dir, nodes: opts.nodes === '1' ? 1 : 3, tenants: opts.tenants },
            { logger: ctx.logger, onProgress: (m) => ctx.progress(m) },
          );
          ctx.progress(
            `lab up in ${up.seconds.toFixed(1)} s with ${up.lab.tenants} tenants (LAB ONLY): ${dir}`,
          );

          // Every other tenant is read, a few are probed: the assessment must name exactly the read ones.
          const attacked = Math.min(opts.attacked, opts.tenants);
          const read = Array.from({ length: attacked }, (_, i) => labTenantId((i * 2) % opts.tenants));
          const probe = Array.from({ length: Math.min(3, opts.tenants) }, (_, i) =>
            labTenantId(opts.tenants - 1 - i),
          ).filter((t) => !read.includes(t));
          const attack = await simulateAttack(up.lab, { read, probe }, ctx.logger);
          ctx.progress(
            `attacker (stolen ${attack.role} AppRole credentials): read ${attack.reads} secrets of ${read.length} tenants, ${attack.denied} probes refused`,
          );

          const labCtx = new CliContext(
            { ...ctx.options, config: join(dir, 'sealwatch.yaml'), store: join(dir, 'sealwatch.db') },
            ctx.out,
          );
          try {
            const options = breachOptions(labCtx, {
              containment: 'lockdown',
              seal: false,
              since: startedAt.toISOString(),
              unsealKeysStdin: false,
              keyShares: 5,
              keyThreshold: 3,
              severity: 'critical',
              yes: true,
              dryRun: false,
              scope: 'implicated',
              notify: 'affected',
            });
            const store = await labCtx.store();
            const deps = {
              vault: labCtx.vault(),
              store,
              config: labCtx.config(),
              logger: labCtx.logger,
              runtime: playbookRuntime({}),
              site: labCtx.site(),
            };
            const incidents = createIncidents({
              store,
              logger: labCtx.logger,
              playbooks: PLAYBOOKS,
              playbookDeps: () => deps,
            });
            const steps = await breachPlaybook(deps, options);
            const incident = await incidents.declare({
              type: 'breach',
              steps,
              severity: 'critical',
              options,
              declaredBy: 'sealwatch drill',
            });
            ctx.progress(`incident ${incident.id}: respond breach --yes (lab key holders answer at once)`);
            const result = await incidents.run(incident.id, steps, {
              approve: approveAll('sealwatch drill'),
              progress: (m) => ctx.progress(m),
            });
            const code = await renderRunResult(ctx, result, () => incidents.report(incident.id));
            if (!ctx.json) {
              const report = await incidents.report(incident.id);
              ctx.out.line(
                `\naffected tenants (${report.affected_tenants.length}): ${report.affected_tenants.join(', ')}`,
              );
              ctx.out.line(`attacker read: ${read.join(', ')}`);
              ctx.out.line(
                `at risk (could read, no read on record) (${report.at_risk_tenants.length}): ${report.at_risk_tenants.join(', ') || 'none'}`,
              );
              ctx.out.line(
                `notices sent: ${report.notifications?.sent ?? 0}, failed: ${report.notifications?.failed ?? 0}`,
              );
              ctx.out.line(
                `\nreport: sealwatch incident report ${incident.id} --format md --config ${join(opts.dir, 'sealwatch.yaml')}`,
              );
              ctx.out.line(`mail:   sealwatch lab mail --dir ${opts.dir}`);
              if (!opts.down) ctx.out.line(`stop:   sealwatch lab down --dir ${opts.dir}`);
            }
            return code;
          } finally {
            await labCtx.close();
            if (opts.down) await labDown(dir, { purge: false });
          }
        },
      ),
    );
}
