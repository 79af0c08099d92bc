import { userInfo } from 'node:os';
import { Command, InvalidArgumentError } from 'commander';
import { UsageError } from '../../errors.js';
import type { AlertRecord } from '../../store/repositories/alerts.repository.js';
import { parseDuration } from '../../util/duration.js';
import { toAlertJson } from '../../watch/alert-json.js';
import type { CliContext } from '../context.js';
import { examples } from '../help.js';
import type { CommandRunner } from '../runner.js';

const matcher = (value: string, previous: Record<string, string>) => {
  const match = /^([A-Za-z_][\w.-]*)=(.+)$/.exec(value);
  if (!match) throw new InvalidArgumentError('must be label=value, e.g. node=https://vault-1:8200');
  return { ...previous, [match[1]!]: match[2]! };
};

const duration = (value: string): number => {
  const ms = parseDuration(value);
  if (ms === undefined || ms <= 0) throw new InvalidArgumentError('must be a duration such as 30m, 2h or 1d');
  return ms;
};

/** Whoever runs the command, unless told: acks and silences always say who. */
const currentUser = () => {
  try {
    return userInfo().username;
  } catch {
    // No passwd entry (some containers): the author is then asked for explicitly.
    return undefined;
  }
};

async function findAlert(ctx: CliContext, id: string): Promise<AlertRecord> {
  const alert = await (await ctx.store()).alerts.find(id);
  if (!alert)
    throw new UsageError(
      `no alert ${id} (or the prefix is ambiguous): give a fingerprint from sealwatch alerts list --all`,
    );
  return alert;
}

export function alertsCommand(run: CommandRunner): Command {
  const alerts = new Command('alerts').description(
    "watch's alerts: list, show, acknowledge, silence (state kept in the store)",
  );

  alerts
    .command('list')
    .description('pending and firing alerts, newest first (--all: resolved ones too)')
    .option('--all', 'include resolved alerts', false)
    .addHelpText('after', examples('sealwatch alerts list', 'sealwatch alerts list --all --json'))
    .action(
      run(async (ctx: CliContext, opts: { all: boolean }) => {
        const list = (await (await ctx.store()).alerts.list({ includeResolved: opts.all })).map(toAlertJson);
        if (ctx.json) return ctx.out.json(list);
        if (list.length === 0) return ctx.out.line(opts.all ? 'no alerts' : 'no pending or firing alerts');
        ctx.out.table(
          list.map((a) => ({
            ...a,
            labels: Object.entries(a.labels)
              .map(([k, v]) => `${k}=${v}`)
              .join(','),
          })),
          ['fingerprint', 'rule', 'severity', 'state', 'labels', 'started_at', 'acked_by', 'silenced_by'],
        );
      }),
    );

  alerts
    .command('show')
    .description('one alert, with its notices and their delivery')
    .argument('<id>', 'fingerprint (or an unambiguous prefix of at least 4 characters)')
    .addHelpText('after', examples('sealwatch alerts show 3f9a2c1b', 'sealwatch alerts show 3f9a2c1b --json'))
    .action(
      run(async (ctx: CliContext, _opts: unknown, id: string) => {
        const alert = await findAlert(ctx, id);
        const notices = (await (await ctx.store()).alerts.noticesOf(alert.fingerprint)).map((n) => ({
          channel: n.channel,
          kind: n.kind,
          state: n.state,
          attempts: n.attempts,
          created_at: n.created_at,
          sent_at: n.sent_at,
          last_error: n.last_error,
        }));
        if (ctx.json) return ctx.out.json({ ...toAlertJson(alert), notices });
        for (const [k, v] of Object.entries(toAlertJson(alert)))
          ctx.out.line(
            `${k.padEnd(17)} ${typeof v === 'object' && v !== null ? JSON.stringify(v) : String(v ?? '-')}`,
          );
        if (alert.runbook) ctx.out.line(`\ndiagnose: sealwatch runbook diagnose ${alert.runbook}`);
        if (notices.length > 0) {
          ctx.out.line('\nnotices:');
          ctx.out.table(notices);
        }
      }),
    );

  alerts
    .command('ack')
    .description('acknowledge a firing alert: no repeat notices (the resolve notice still goes out)')
    .argument('<id>', 'fingerprint or prefix')
    .option('--author <name>', 'who acknowledges (default: the current user)')
    .addHelpText('after', examples('sealwatch alerts ack 3f9a2c1b --author alice'))
    .action(
      run(async (ctx: CliContext, opts: { author?: string }, id: string) => {
        const author = opts.author ?? currentUser();
        if (!author) throw new UsageError('alerts ack: give --author NAME');
        const alert = await findAlert(ctx, id);
        await (await ctx.store()).alerts.ack(alert.fingerprint, author);
        const acked = await findAlert(ctx, alert.fingerprint);
        if (ctx.json) return ctx.out.json(toAlertJson(acked));
        ctx.out.line(`acknowledged ${acked.fingerprint} (${acked.rule}) as ${author}`);
      }),
    );

  alerts
    .command('silence')
    .description('no notices for alerts matching every label (rule=ID matches the rule) until it expires')
    .requiredOption(
      '--match <label=value>',
      'a label the alert must have (repeatable; rule=node-sealed)',
      matcher,
      {},
    )
    .requiredOption('--for <duration>', 'how long, e.g. 2h', duration)
    .requiredOption('--author <name>', 'who silences')
    .requiredOption('--comment <text>', 'why (shown with the silenced alerts)')
    .addHelpText(
      'after',
      examples(
        'sealwatch alerts silence --match rule=node-sealed --match node=http://127.0.0.1:8210 --for 2h --author alice --comment "planned maintenance"',
      ),
    )
    .action(
      run(
        async (
          ctx: CliContext,
          opts: { match: Record<string, string>; for: number; author: string; comment: string },
        ) => {
          if (Object.keys(opts.match).length === 0)
            throw new UsageError('alerts silence: give at least one --match');
          const silence = await (
            await ctx.store()
          ).alerts.addSilence({
            matchers: opts.match,
            author: opts.author,
            comment: opts.comment,
            ends_at: new Date(Date.now() + opts.for).toISOString(),
          });
          if (ctx.json) return ctx.out.json(silence);
          ctx.out.line(`silence ${silence.id} until ${silence.ends_at}`);
        },
      ),
    );

  alerts
    .command('unsilence')
    .description('end a silence now')
    .argument('<silence-id>', 'the id `alerts silence` printed')
    .addHelpText('after', examples('sealwatch alerts unsilence 4be1c0a9d2f3'))
    .action(
      run(async (ctx: CliContext, _opts: unknown, id: string) => {
        if (!(await (await ctx.store()).alerts.endSilence(id)))
          throw new UsageError(`no silence ${id}: give the id that sealwatch alerts silence printed`);
        if (ctx.json) return ctx.out.json({ id, ended_at: new Date().toISOString() });
        ctx.out.line(`silence ${id} ended`);
      }),
    );
  alerts.addHelpText('after', examples('sealwatch alerts list', 'sealwatch alerts silence --help'));
  return alerts;
}
