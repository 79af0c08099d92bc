import { readFileSync } from 'node:fs';
import { Command } from 'commander';
import { UsageError, systemErrorCode } from '../../errors.js';
import { traceLeak } from '../../leak/leak-trace.js';
import type { CliContext } from '../context.js';
import type { CommandRunner } from '../runner.js';
import { examples } from '../help.js';
import { registerSecret } from '../../logging/redactor.js';
import { resolveSuspects, parseSuspects } from '../../assess/suspects.js';
import { collectSuspect, SUSPECT_HELP, suspectTexts } from '../arguments.js';

interface LeakTraceOptions {
  valueFile?: string;
  tokenStdin?: boolean;
  suspect?: string[];
}

/** One trailing newline is what `echo` and editors add; anything else is part of the value. */
export function trimOneNewline(text: string): string {
  return text.replace(/\r?\n$/, '');
}

async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

export function leakCommand(run: CommandRunner): Command {
  const leak = new Command('leak').description('trace a leaked secret or token through the audit store');
  leak
    .command('trace')
    .description(
      'every stored audit event that carried the value (hashed through sys/audit-hash of each device)',
    )
    .option('--value-file <file>', 'file holding the leaked value (never printed, logged or stored)')
    .option('--token-stdin', 'read a leaked token from standard input', false)
    .option('--suspect <kind:value>', `${SUSPECT_HELP}; their events are marked`, collectSuspect)
    .addHelpText(
      'after',
      examples(
        'sealwatch leak trace --value-file leaked.txt',
        'sealwatch leak trace --token-stdin --json < leaked-token.txt',
        'sealwatch leak trace --value-file leaked.txt --suspect role:approle/mailer',
      ),
    )
    .action(
      run(async (ctx: CliContext, opts: LeakTraceOptions) => {
        if (Boolean(opts.valueFile) === Boolean(opts.tokenStdin))
          throw new UsageError('leak trace: give exactly one of --value-file <file> or --token-stdin');
        const suspectList = parseSuspects(suspectTexts(ctx.config().suspects, opts.suspect));
        if (opts.tokenStdin && suspectList.some((s) => s.kind === 'token-stdin'))
          throw new UsageError(
            'leak trace: --token-stdin and --suspect token-stdin both read standard input: give the leaked value with --value-file',
          );
        let value: string;
        if (opts.valueFile) {
          try {
            value = trimOneNewline(readFileSync(opts.valueFile, 'utf8'));
          } catch (error) {
            throw new UsageError(
              `leak trace: --value-file ${opts.valueFile} cannot be read: ${systemErrorCode(error) ?? 'error'}`,
            );
          }
        } else value = trimOneNewline(await readStdin());
        registerSecret(value);
        const store = await ctx.store();
        const suspects = await resolveSuspects(suspectList, {
          vault: ctx.vault(),
          readTokenStdin: readStdin,
        });
        const result = await traceLeak(
          value,
          {
            vault: ctx.vault(),
            analysis: store.auditAnalysis,
            logger: ctx.logger.child({ component: 'leak' }),
          },
          suspects,
        );
        if (ctx.json) return ctx.out.json(result);
        for (const s of result.suspects)
          ctx.out.line(
            s.matched_events === 0
              ? `suspect ${s.suspect} matched no stored audit event: the id may be wrong`
              : `suspect ${s.suspect}: ${s.matched_actors.length} actor(s), ${s.matched_events} event(s)`,
          );
        if (result.events.length === 0) {
          ctx.out.line(
            `no stored audit event carried it (${result.hash_lookups} audit device(s) hashed); ingest the logs that may`,
          );
          return;
        }
        ctx.out.table(result.events.map((e) => ({ ...e, suspects: e.suspects.join(',') })));
        ctx.out.line(`${result.events.length} event(s); ${result.hash_lookups} audit device(s) hashed`);
      }),
    );
  leak.addHelpText('after', examples('sealwatch leak trace --value-file leaked.txt'));
  return leak;
}
