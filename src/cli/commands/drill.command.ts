import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { Command, Option } from 'commander';
import { labDown, labUp } from '../../lab/lab.service.js';
import { labFilePath } from '../../lab/lab-file.js';
import { collectStatus } from '../../status/status.service.js';
import { labClient } from '../../lab/lab.service.js';
import type { CliContext } from '../context.js';
import type { CommandRunner } from '../runner.js';
import { positiveInt } from './lab.command.js';

export const DEFAULT_DRILL_DIR = '.sealwatch/drill';

const WHAT_COMES_NEXT = `
What the drill does on this lab, end to end:
  1. an attacker steals the mailer application's AppRole token, reads several tenants'
     secrets and probes others (denied);
  2. sealwatch ingests the audit log and assesses the breach: who, from where, which tenants;
  3. sealwatch respond breach contains (revokes tokens and leases, keeps auth configuration),
     rekeys (new Shamir shares, barrier key rotation, new root token), rotates every tenant
     secret, notifies the affected tenants, recovers the applications and reports RTO per step.
This version starts the lab and checks the cluster; the breach simulation arrives with the
respond capability.`;

export function drillCommand(run: CommandRunner): Command {
  return new Command('drill')
    .description('simulated breach on a fresh local lab (the demo and the DR drill)')
    .addOption(new Option('--nodes <n>', 'lab nodes').choices(['1', '3']).default('3'))
    .option('--tenants <n>', 'tenants to seed', positiveInt, 50)
    .option('--dir <dir>', 'drill lab directory (replaced at every drill)', DEFAULT_DRILL_DIR)
    .option('--down', 'stop the lab when the drill ends', false)
    .action(
      run(async (ctx: CliContext, opts: { nodes: string; tenants: number; dir: string; down: boolean }) => {
        const dir = resolve(opts.dir);
        if (existsSync(labFilePath(dir))) {
          ctx.progress(`replacing the previous drill lab in ${dir}`);
          await labDown(dir, { purge: true });
        }
        const up = await labUp(
          { dir, nodes: opts.nodes === '1' ? 1 : 3, tenants: opts.tenants },
          { logger: ctx.logger, onProgress: (m) => ctx.progress(m) },
        );
        const vault = labClient(up.lab.nodes, up.lab.root_token, ctx.logger);
        try {
          const status = await collectStatus(vault, { hasToken: true });
          const result = {
            lab: {
              dir,
              seconds: Number(up.seconds.toFixed(1)),
              tenants: up.lab.tenants,
              config: join(dir, 'sealwatch.yaml'),
            },
            status,
          };
          if (ctx.json) ctx.out.json(result);
          else {
            ctx.out.line(
              `lab up in ${result.lab.seconds} s with ${result.lab.tenants} tenants: ${dir} (LAB ONLY)`,
            );
            ctx.out.table(
              status.nodes.map((n) => ({
                address: n.address,
                version: n.version,
                sealed: n.sealed,
                role: n.is_leader ? 'leader' : n.ha_mode,
              })),
            );
            ctx.out.line(`leader: ${status.leader_address}`);
            ctx.out.line(WHAT_COMES_NEXT);
            ctx.out.line(
              opts.down
                ? ''
                : `\nexplore: sealwatch status --config ${result.lab.config}\nstop:    sealwatch lab down --dir ${opts.dir}`,
            );
          }
        } finally {
          await vault.close();
          if (opts.down) await labDown(dir, { purge: false });
        }
      }),
    );
}
