import type { Command } from 'commander';
import { tenantAccessMatrix } from '../../posture/access-matrix.js';
import type { CliContext } from '../context.js';
import { examples } from '../help.js';
import type { CommandRunner } from '../runner.js';

interface AccessOptions {
  tenant?: string;
}

/**
 * `posture access`: the effective access matrix (docs/policies.md). Added to the `posture` command
 * by its owner: `addPostureAccess(posture, run)`.
 */
export function addPostureAccess(posture: Command, run: CommandRunner): Command {
  return posture
    .command('access')
    .description(
      "which tenants' secrets every policy (and the roles carrying it) can read or write, as the server decides",
    )
    .option('--tenant <id>', 'only this tenant')
    .addHelpText(
      'after',
      examples('sealwatch posture access', 'sealwatch posture access --tenant acme --json'),
    )
    .action(
      run(async (ctx: CliContext, opts: AccessOptions) => {
        const matrix = await tenantAccessMatrix(
          { vault: ctx.vault(), config: ctx.config() },
          opts.tenant === undefined ? {} : { only: opts.tenant },
        );
        if (ctx.json) return ctx.out.json(matrix);
        const only = opts.tenant;
        const shown =
          only === undefined
            ? matrix.policies
            : matrix.policies.filter((p) => [...p.tenants.read, ...p.tenants.write].includes(only));
        ctx.out.table(
          shown.map((p) => ({
            policy: p.policy,
            roles: p.roles.map((r) => `${r.mount}/${r.role}`).join(', '),
            read: p.tenants.read.join(', '),
            write: p.tenants.write.join(', '),
            cross_tenant: p.cross_tenant ? 'YES' : '',
          })),
        );
        for (const gap of matrix.could_not_read)
          ctx.out.line(`could not read ${gap.what} (needs ${gap.capability} on ${gap.path}): ${gap.reason}`);
      }),
    );
}
