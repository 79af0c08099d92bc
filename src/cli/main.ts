#!/usr/bin/env node
import { Command, CommanderError, Option } from 'commander';
import { ConfigError, SealwatchError, UsageError } from '../errors.js';
import { LOG_FORMATS } from '../logging/log-format.js';
import { EXIT } from './exit-codes.js';
import { commandNamed } from './command-line.js';
import { createRunner, type CommandRunner } from './runner.js';

type CommandFactory = (run: CommandRunner) => Command;

/**
 * Every command, in help order, loaded on demand: a command's module pulls in what it needs (ssh2,
 * openpgp, nodemailer, pg, …) and loading all of them costs seconds of start-up that a
 * `runbook diagnose` at 3 a.m. should not pay. Only the command named on the line is loaded; help
 * without a command loads them all.
 */
const COMMANDS: Readonly<Record<string, () => Promise<CommandFactory>>> = {
  status: async () => (await import('./commands/status.command.js')).statusCommand,
  lab: async () => (await import('./commands/lab.command.js')).labCommand,
  drill: async () => (await import('./commands/drill.command.js')).drillCommand,
  tenants: async () => (await import('./commands/tenants.command.js')).tenantsCommand,
  rotate: async () => (await import('./commands/rotate.command.js')).rotateCommand,
  assess: async () => (await import('./commands/assess.command.js')).assessCommand,
  leak: async () => (await import('./commands/leak.command.js')).leakCommand,
  audit: async () => (await import('./commands/audit.command.js')).auditCommand,
  incident: async () => (await import('./commands/incident.command.js')).incidentCommand,
  respond: async () => (await import('./commands/respond.command.js')).respondCommand,
  runbook: async () => (await import('./commands/runbook.command.js')).runbookCommand,
  backup: async () => (await import('./commands/backup.command.js')).backupCommand,
};

export async function buildProgram(argv: readonly string[] = []): Promise<Command> {
  const run = createRunner();
  const named = commandNamed(argv.slice(2));
  const args = argv.slice(2);
  const names =
    named !== undefined && Object.hasOwn(COMMANDS, named)
      ? [named]
      : named === undefined && (args.includes('--version') || args.includes('-V'))
        ? []
        : Object.keys(COMMANDS);
  const factories = await Promise.all(names.map((name) => COMMANDS[name]!()));
  const program = new Command('sealwatch')
    .description(
      'incident response for HashiCorp Vault and OpenBao: detect, contain, assess, rotate, recover, report',
    )
    .version('0.1.0')
    .option('--config <file>', 'config file (env SEALWATCH_CONFIG; default ./sealwatch.yaml if present)')
    .option(
      '--store <url>',
      'SQLite file or postgres:// URL (env SEALWATCH_STORE; default .sealwatch/sealwatch.db)',
    )
    .option('--addr <urls>', 'Vault/OpenBao address(es), comma-separated (env BAO_ADDR / VAULT_ADDR)')
    .option(
      '--token <token>',
      'token (env BAO_TOKEN / VAULT_TOKEN, else ~/.vault-token); prefer the environment',
    )
    .option('--json', 'machine-readable output on stdout', false)
    .addOption(
      new Option('--log-level <level>', 'log level on stderr').choices([
        'fatal',
        'error',
        'warn',
        'info',
        'debug',
        'trace',
        'silent',
      ]),
    )
    .addOption(
      new Option(
        '--log-format <format>',
        'log lines on stderr: pretty (for people) or json (env SEALWATCH_LOG_FORMAT; default pretty on a terminal, json otherwise)',
      ).choices(LOG_FORMATS),
    )
    .showHelpAfterError('(run with --help for usage)')
    .exitOverride();

  for (const factory of factories) program.addCommand(factory(run));
  // exitOverride and the error output apply to every subcommand too.
  const configure = (command: Command) => {
    command.exitOverride();
    command.commands.forEach(configure);
  };
  configure(program);
  return program;
}

export async function main(argv: string[]): Promise<number> {
  const program = await buildProgram(argv);
  try {
    await program.parseAsync(argv);
    return typeof process.exitCode === 'number' ? process.exitCode : EXIT.ok;
  } catch (error) {
    if (error instanceof CommanderError) {
      // Help and version end with code 0; every other commander error is a usage error.
      return error.exitCode === 0 ? EXIT.ok : EXIT.usage;
    }
    const json = argv.includes('--json');
    const message = error instanceof Error ? error.message : String(error);
    console.error(`sealwatch: ${message}`);
    if (json) {
      const code = error instanceof SealwatchError ? error.code : 'internal_error';
      console.log(JSON.stringify({ error: { code, message } }));
    }
    if (!(error instanceof SealwatchError) && process.env['SEALWATCH_DEBUG'] && error instanceof Error)
      console.error(error.stack);
    return error instanceof ConfigError || error instanceof UsageError ? EXIT.usage : EXIT.failure;
  }
}

// `sealwatch assess --json | head`: once the reader has gone, the rest of the output has nowhere to
// go. Stop quietly with the command's own exit code, as Unix tools do, not with a stack trace.
process.stdout.on('error', (error: NodeJS.ErrnoException) => {
  if (error.code !== 'EPIPE') throw error;
  process.exit(typeof process.exitCode === 'number' ? process.exitCode : EXIT.ok);
});

const code = await main(process.argv);
process.exitCode = code;
