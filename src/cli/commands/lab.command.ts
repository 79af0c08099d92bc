import { Command, Option } from 'commander';
import { resolve } from 'node:path';
import { readInbox } from '../../lab/mail-catcher.js';
import { labInboxPath } from '../../lab/mail.js';
import { labDown, labEnv, labStatus, labUp, DEFAULT_LAB_DIR } from '../../lab/lab.service.js';
import type { CliContext } from '../context.js';
import { positiveInt } from '../arguments.js';
import type { CommandRunner } from '../runner.js';
import { examples } from '../help.js';

export function labCommand(run: CommandRunner): Command {
  const lab = new Command('lab').description(
    'a local OpenBao lab cluster seeded with tenants (for drills and tests)',
  );

  lab
    .command('up')
    .description(
      'start (or restart) a lab: raft storage, Shamir 5/3, audit device, telemetry, seeded tenants',
    )
    .addOption(new Option('--nodes <n>', 'number of nodes').choices(['1', '3']).default('3'))
    .option('--tenants <n>', 'tenants to seed', positiveInt, 50)
    .option('--dir <dir>', 'lab directory', DEFAULT_LAB_DIR)
    .option(
      '--audit-socket <host:port>',
      'also stream audit events to a socket device (sealwatch audit listen)',
    )
    .addHelpText(
      'after',
      examples('sealwatch lab up', 'sealwatch lab up --nodes 1 --tenants 200 --dir /tmp/lab'),
    )
    .action(
      run(
        async (
          ctx: CliContext,
          opts: { nodes: string; tenants: number; dir: string; auditSocket?: string },
        ) => {
          const result = await labUp(
            {
              dir: opts.dir,
              nodes: opts.nodes === '1' ? 1 : 3,
              tenants: opts.tenants,
              auditSocket: opts.auditSocket,
            },
            { logger: ctx.logger, onProgress: (m) => ctx.progress(m) },
          );
          const summary = {
            dir: result.dir,
            restarted: result.restarted,
            seconds: Number(result.seconds.toFixed(1)),
            tenants: result.lab.tenants,
            nodes: result.lab.nodes.map((n) => ({ node_id: n.node_id, address: n.address, pid: n.pid })),
            config: `${result.dir}/sealwatch.yaml`,
          };
          if (ctx.json) return ctx.out.json(summary);
          ctx.out.line(
            `lab ${result.restarted ? 'restarted' : 'up'} in ${summary.seconds} s: ${result.dir} (LAB ONLY)`,
          );
          ctx.out.table(summary.nodes);
          ctx.out.line(
            `\nuse it:  eval "$(sealwatch lab env --dir ${opts.dir})"   or   --config ${summary.config}`,
          );
          ctx.out.line(`stop it: sealwatch lab down --dir ${opts.dir}`);
        },
      ),
    );

  lab
    .command('status')
    .description('processes and health of the lab nodes')
    .option('--dir <dir>', 'lab directory', DEFAULT_LAB_DIR)
    .addHelpText('after', examples('sealwatch lab status --dir /tmp/lab'))
    .action(
      run(async (ctx, opts: { dir: string }) => {
        const status = await labStatus(opts.dir, { logger: ctx.logger });
        if (ctx.json) return ctx.out.json(status);
        ctx.out.line(`lab ${status.dir}: ${status.tenants} tenants`);
        ctx.out.table(
          status.nodes.map((n) => ({
            node: n.node_id,
            address: n.address,
            pid: n.pid,
            running: n.running,
            sealed: n.health?.sealed,
            role: n.health
              ? n.health.sealed
                ? 'sealed'
                : n.health.standby
                  ? 'standby'
                  : 'active'
              : undefined,
            error: n.error,
          })),
        );
      }),
    );

  lab
    .command('env')
    .description('shell exports for BAO_ADDR/VAULT_ADDR, the token and SEALWATCH_CONFIG')
    .option('--dir <dir>', 'lab directory', DEFAULT_LAB_DIR)
    .addHelpText(
      'after',
      examples(
        'sealwatch lab env --dir /tmp/lab   # eval "$(sealwatch lab env --dir /tmp/lab)" sets the shell up',
      ),
    )
    .action(
      run(async (ctx, opts: { dir: string }) => {
        for (const line of labEnv(opts.dir)) ctx.out.line(line);
      }),
    );

  lab
    .command('mail')
    .description("what the lab's mail catcher received (tenant notices): from, to, subject, message-id, date")
    .option('--dir <dir>', 'lab directory', DEFAULT_LAB_DIR)
    .addHelpText(
      'after',
      examples('sealwatch lab mail --dir .sealwatch/drill   # the notices the last drill sent'),
    )
    .action(
      run(async (ctx, opts: { dir: string }) => {
        const messages = readInbox(labInboxPath(resolve(opts.dir))).map((m) => ({
          from: m.from ?? m.envelope_from,
          to: m.envelope_to.join(', '),
          subject: m.subject,
          message_id: m.message_id,
          date: m.date ?? m.received_at,
        }));
        if (ctx.json) return ctx.out.json({ messages });
        if (messages.length === 0) return ctx.out.line('no mail received');
        ctx.out.table(messages);
      }),
    );

  lab
    .command('down')
    .description('stop every process the lab started (data is kept unless --purge)')
    .option('--dir <dir>', 'lab directory', DEFAULT_LAB_DIR)
    .option('--purge', 'also delete the lab directory', false)
    .addHelpText(
      'after',
      examples(
        'sealwatch lab down --dir /tmp/lab',
        'sealwatch lab down --dir /tmp/lab --purge   # and delete its data',
      ),
    )
    .action(
      run(async (ctx, opts: { dir: string; purge: boolean }) => {
        const result = await labDown(opts.dir, { purge: opts.purge });
        if (ctx.json) return ctx.out.json(result);
        ctx.out.table(result.nodes);
        if (result.purged) ctx.out.line(`removed ${opts.dir}`);
      }),
    );
  lab.addHelpText('after', examples('sealwatch lab up --nodes 1', 'sealwatch lab down --purge'));
  return lab;
}
