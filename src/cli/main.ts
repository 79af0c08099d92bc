#!/usr/bin/env node
import { CommanderError } from 'commander';
import { ConfigError, SealwatchError, UsageError } from '../errors.js';
import { EXIT } from './exit-codes.js';
import { buildProgram } from './program.js';

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
