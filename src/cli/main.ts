#!/usr/bin/env node
import { Command, CommanderError, Option } from 'commander';
import { ConfigError, SealwatchError, UsageError } from '../errors.js';
import { assessCommand } from './commands/assess.command.js';
import { auditCommand } from './commands/audit.command.js';
import { backupCommand } from './commands/backup.command.js';
import { drillCommand } from './commands/drill.command.js';
import { incidentCommand } from './commands/incident.command.js';
import { labCommand } from './commands/lab.command.js';
import { leakCommand } from './commands/leak.command.js';
import { respondCommand } from './commands/respond.command.js';
import { rotateCommand } from './commands/rotate.command.js';
import { runbookCommand } from './commands/runbook.command.js';
import { statusCommand } from './commands/status.command.js';
import { tenantsCommand } from './commands/tenants.command.js';
import { EXIT } from './exit-codes.js';
import { createRunner } from './runner.js';

export function buildProgram(): Command {
  const run = createRunner();
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
    .showHelpAfterError('(run with --help for usage)')
    .exitOverride();

  for (const command of [
    statusCommand(run),
    labCommand(run),
    drillCommand(run),
    tenantsCommand(run),
    rotateCommand(run),
    assessCommand(run),
    leakCommand(run),
    auditCommand(run),
    incidentCommand(run),
    respondCommand(run),
    backupCommand(run),
    runbookCommand(run),
  ])
    program.addCommand(command);
  // exitOverride and the error output apply to every subcommand too.
  const configure = (command: Command) => {
    command.exitOverride();
    command.commands.forEach(configure);
  };
  configure(program);
  return program;
}

export async function main(argv: string[]): Promise<number> {
  const program = buildProgram();
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

const code = await main(process.argv);
process.exitCode = code;
