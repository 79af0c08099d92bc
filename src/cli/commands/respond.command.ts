import { NOTIFY_AUDIENCES, type NotifyAudience } from '../../respond/steps/notify.step.js';
import { resolve } from 'node:path';
import { Command, InvalidArgumentError, Option } from 'commander';
import { UsageError } from '../../errors.js';
import { readLabFile } from '../../lab/lab-file.js';
import { createIncidents, SEVERITIES, type Severity } from '../../playbook/incident.service.js';
import { breachOptionsSchema, breachPlaybook, type BreachOptions } from '../../respond/breach.playbook.js';
import { ROTATOR_KINDS, type RotatorKind } from '../../rotate/rotator.js';
import { parseDuration } from '../../util/duration.js';
import { playbookHooks } from '../approval.js';
import { playbookRuntime } from '../runtime.js';
import type { CliContext } from '../context.js';
import { PLAYBOOKS } from '../playbooks.js';
import type { CommandRunner } from '../runner.js';
import { renderRunResult } from './incident.command.js';
import { dirname } from 'node:path';
import { examples } from '../help.js';
import {
  collectSuspect,
  NOTIFY_HELP,
  rotatorKinds,
  SCOPE_HELP,
  SUSPECT_HELP,
  suspectTexts,
} from '../arguments.js';
import { ASSESS_SCOPES, type AssessScope } from '../../config/suspect.js';

export interface BreachFlags {
  incident?: string;
  containment: 'lockdown' | 'seal-first';
  seal: boolean;
  since: string;
  auditLog?: string[];
  unsealKeysFile?: string;
  unsealKeysStdin: boolean;
  pgpKeys?: string;
  newKeysOut?: string;
  keyShares: number;
  keyThreshold: number;
  kinds?: RotatorKind[];
  exportKeyFile?: string;
  severity: Severity;
  declaredBy?: string;
  yes: boolean;
  dryRun: boolean;
  suspect?: string[];
  scope: AssessScope;
  notify: NotifyAudience;
}

const whole = (value: string) => {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1) throw new InvalidArgumentError('must be a whole number of at least 1');
  return n;
};
const collect = (value: string, previous: string[] = []) => [...previous, value];

/** `--since 24h` (a duration back from now) or an ISO time. */
export function windowStart(since: string, now = new Date()): string {
  const ms = parseDuration(since);
  if (ms !== undefined) return new Date(now.getTime() - ms).toISOString();
  const at = new Date(since);
  if (Number.isNaN(at.getTime()))
    throw new UsageError(`--since ${since}: give a duration (24h, 90m) or an ISO time`);
  return at.toISOString();
}

/** The journalled options of a breach incident, from the flags and (on a lab) the lab's audit log. */
export function breachOptions(ctx: CliContext, flags: BreachFlags): BreachOptions {
  if (flags.unsealKeysFile && flags.unsealKeysStdin)
    throw new UsageError('give --unseal-keys-file or --unseal-keys-stdin, not both');
  const labFile = ctx.config().lab?.file;
  const auditLogs =
    flags.auditLog?.map((f) => resolve(f)) ?? (labFile ? [readLabFile(dirname(labFile)).audit_log] : []);
  return breachOptionsSchema.parse({
    containment: flags.containment,
    seal: flags.seal,
    since: windowStart(flags.since),
    audit_logs: auditLogs,
    suspects: suspectTexts(ctx.config().suspects, flags.suspect),
    scope: flags.scope,
    notify: flags.notify,
    ...(flags.kinds ? { kinds: flags.kinds } : {}),
    key_shares: flags.keyShares,
    key_threshold: flags.keyThreshold,
    ...(flags.pgpKeys ? { pgp_keys_dir: resolve(flags.pgpKeys) } : {}),
    ...(flags.newKeysOut ? { new_keys_out: resolve(flags.newKeysOut) } : {}),
    ...(flags.exportKeyFile ? { export_key_file: resolve(flags.exportKeyFile) } : {}),
  });
}

export function respondCommand(run: CommandRunner): Command {
  const respond = new Command('respond').description('run an incident playbook end to end');
  respond
    .command('breach')
    .description(
      'the emergency procedure for a compromised Vault/OpenBao: preserve, contain, assess, rekey, rotate, notify, recover, report',
    )
    .option('--incident <id>', 'incident id (default inc-YYYYMMDD-xxxx)')
    .addOption(
      new Option(
        '--containment <mode>',
        'lockdown: revoke and lock, then seal if asked; seal-first: seal at once (host compromise)',
      )
        .choices(['lockdown', 'seal-first'])
        .default('lockdown'),
    )
    .option('--seal', 'seal every node after the lockdown (rekey then waits for the unseal)', false)
    .option('--since <when>', 'start of the breach window: a duration back from now or an ISO time', '24h')
    .option(
      '--audit-log <file>',
      'audit log to ingest before the assessment (repeatable; default on a lab: its audit log)',
      collect,
    )
    .option('--unseal-keys-file <file>', 'current unseal (or recovery) key shares, one per line')
    .option('--unseal-keys-stdin', 'read the current key shares from standard input', false)
    .option(
      '--pgp-keys <dir>',
      "key holders' PGP public keys (*.asc, *.gpg): each new share is encrypted to one",
    )
    .option('--new-keys-out <file>', 'write the new shares and root token here once (mode 0600)')
    .option('--key-shares <n>', 'new share count', whole, 5)
    .option('--key-threshold <n>', 'new threshold', whole, 3)
    .option(
      '--kinds <list>',
      `secret kinds to rotate (${ROTATOR_KINDS.join(',')}); default every configured kind`,
      rotatorKinds,
    )
    .option(
      '--export-key-file <file>',
      'key that encrypts the auth configuration export (default: a new one beside it)',
    )
    .addOption(
      new Option('--severity <level>', 'incident severity').choices([...SEVERITIES]).default('critical'),
    )
    .option('--declared-by <name>', 'who declares the incident (default the OS user)')
    .option('--suspect <kind:value>', SUSPECT_HELP, collectSuspect)
    .addOption(new Option('--scope <scope>', SCOPE_HELP).choices([...ASSESS_SCOPES]).default('implicated'))
    .addOption(new Option('--notify <who>', NOTIFY_HELP).choices([...NOTIFY_AUDIENCES]).default('affected'))
    .option('--yes', 'approve every step that needs approval', false)
    .option('--dry-run', 'print the plan and change nothing', false)
    .addHelpText(
      'after',
      examples(
        'sealwatch respond breach --dry-run   # the plan; nothing changes',
        'sealwatch respond breach --unseal-keys-file keys.txt --pgp-keys ./key-holders --since 48h',
        'sealwatch respond breach --containment seal-first --unseal-keys-stdin --new-keys-out new-keys.txt',
        'sealwatch respond breach --yes --suspect role:approle/mailer --since 48h',
      ),
    )
    .action(
      run(async (ctx: CliContext, flags: BreachFlags) => {
        const options = breachOptions(ctx, flags);
        const tokenStdin = options.suspects.some((s) => s.startsWith('token-stdin'));
        if (tokenStdin && flags.unsealKeysStdin)
          throw new UsageError(
            '--suspect token-stdin and --unseal-keys-stdin both read standard input: give the shares with --unseal-keys-file',
          );
        const runtime = playbookRuntime({ ...flags, leakedValueStdin: tokenStdin });
        const deps = await ctx.playbookDeps(runtime);
        const { store } = deps;
        const incidents = createIncidents({
          store,
          logger: ctx.logger,
          playbooks: PLAYBOOKS,
          playbookDeps: () => deps,
        });
        const steps = await breachPlaybook(deps, options);
        if (flags.dryRun) {
          const plan = await incidents.plan(steps, options);
          if (ctx.json) return ctx.out.json({ dry_run: true, ...plan });
          ctx.out.line('respond breach — plan (dry run: nothing changed)');
          for (const step of plan.steps) {
            ctx.out.line(
              `\n${step.id}: ${step.title}${step.needs_approval ? ' [needs approval]' : ''} (target ${step.target_seconds} s)`,
            );
            for (const entry of step.actions)
              ctx.out.line(`  ${entry.destructive ? '!' : '-'} ${entry.action}`);
          }
          return;
        }
        const incident = await incidents.declare({
          type: 'breach',
          steps,
          severity: flags.severity,
          options,
          ...(flags.incident ? { id: flags.incident } : {}),
          ...(flags.declaredBy ? { declaredBy: flags.declaredBy } : {}),
        });
        ctx.progress(
          `incident ${incident.id} declared (${incident.severity}); resume with: sealwatch incident resume ${incident.id}`,
        );
        const { hooks, dispose } = playbookHooks(ctx, { yes: flags.yes });
        try {
          const result = await incidents.run(incident.id, steps, hooks);
          return await renderRunResult(ctx, result, () => incidents.report(incident.id));
        } finally {
          dispose();
        }
      }),
    );
  respond.addHelpText('after', examples('sealwatch respond breach --dry-run'));
  return respond;
}
