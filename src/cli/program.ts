import { Command, Option } from 'commander';
import { LOG_FORMATS } from '../logging/log-format.js';
import { SEALWATCH_VERSION } from '../version.js';
import { commandNamed } from './command-line.js';
import { examples } from './help.js';
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
  export: async () => (await import('./commands/export.command.js')).exportCommand,
  watch: async () => (await import('./commands/watch.command.js')).watchCommand,
  alerts: async () => (await import('./commands/alerts.command.js')).alertsCommand,
  posture: async () => (await import('./commands/posture.command.js')).postureCommand,
};

/**
 * The command tree with its options, without running anything: main parses the line with it, and the
 * documentation test checks every `sealwatch …` example against it (argv [] loads every command).
 */
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
    .version(SEALWATCH_VERSION)
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
    .addHelpText(
      'after',
      examples(
        'sealwatch status',
        'sealwatch drill --nodes 1',
        'sealwatch --config sealwatch.yaml assess --since 24h',
        'sealwatch runbook diagnose sealed --help',
      ),
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
