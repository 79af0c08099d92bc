import { readFileSync } from 'node:fs';
import { Command } from 'commander';
import { UsageError, systemErrorCode } from '../../errors.js';
import { traceLeak } from '../../leak/leak-trace.js';
import type { CliContext } from '../context.js';
import type { CommandRunner } from '../runner.js';
import { examples } from '../help.js';
import { registerSecret } from '../../logging/redactor.js';

interface LeakTraceOptions {
  valueFile?: string;
  tokenStdin?: boolean;
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
    .addHelpText(
      'after',
      examples(
        'sealwatch leak trace --value-file leaked.txt',
        'sealwatch leak trace --token-stdin --json < leaked-token.txt',
      ),
    )
    .action(
      run(async (ctx: CliContext, opts: LeakTraceOptions) => {
        if (Boolean(opts.valueFile) === Boolean(opts.tokenStdin))
          throw new UsageError('leak trace: give exactly one of --value-file <file> or --token-stdin');
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
        const result = await traceLeak(value, {
          vault: ctx.vault(),
          analysis: store.auditAnalysis,
          logger: ctx.logger.child({ component: 'leak' }),
        });
        if (ctx.json) return ctx.out.json(result);
        if (result.events.length === 0) {
          ctx.out.line(
            `no stored audit event carried it (${result.hash_lookups} audit device(s) hashed); ingest the logs that may`,
          );
          return;
        }
        ctx.out.table(result.events);
        ctx.out.line(`${result.events.length} event(s); ${result.hash_lookups} audit device(s) hashed`);
      }),
    );
  leak.addHelpText('after', examples('sealwatch leak trace --value-file leaked.txt'));
  return leak;
}
