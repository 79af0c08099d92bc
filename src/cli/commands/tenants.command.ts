import { Command } from 'commander';
import { listTenants } from '../../tenants/tenant-source.js';
import type { CliContext } from '../context.js';
import type { CommandRunner } from '../runner.js';
import { examples } from '../help.js';

export function tenantsCommand(run: CommandRunner): Command {
  const tenants = new Command('tenants').description('the tenants of the platform, from the tenancy model');
  tenants
    .command('list')
    .description('list tenants from tenancy.source; excluded ids (tenancy.exclude) are marked')
    .addHelpText(
      'after',
      examples('sealwatch tenants list', 'sealwatch --config sealwatch.yaml tenants list --json'),
    )
    .action(
      run(async (ctx: CliContext) => {
        const listing = await listTenants(ctx.config(), ctx.vault());
        if (ctx.json) return ctx.out.json(listing);
        ctx.out.table(listing.all.map((id) => ({ tenant: id, counted: !listing.excluded.includes(id) })));
        ctx.out.line(
          `${listing.counted.length} tenants (${listing.excluded.length} excluded) from ${listing.source}`,
        );
      }),
    );
  tenants.addHelpText('after', examples('sealwatch tenants list'));
  return tenants;
}
