import type { Command } from 'commander';
import { CliContext, type GlobalOptions } from './context.js';
import type { Output } from './output.js';

/** What an action may return: nothing (exit 0) or an exit code (3 for findings at --fail-on). */
export type ActionResult = void | number;

// The options object differs per command; each action declares its own shape.
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type Action<O = any> = (ctx: CliContext, options: O, ...args: string[]) => Promise<ActionResult>;

export type CommandRunner = (action: Action) => (...commanderArgs: unknown[]) => Promise<void>;

/**
 * Wraps an action for commander: builds the context from the global options, runs the action,
 * always closes what the context opened, and records the exit code. Errors go to main.
 */
export function createRunner(
  output?: Output,
  env?: Readonly<Record<string, string | undefined>>,
): CommandRunner {
  return (action) =>
    async (...commanderArgs) => {
      const command = commanderArgs[commanderArgs.length - 1] as Command;
      const options: unknown = commanderArgs[commanderArgs.length - 2];
      const positional = commanderArgs
        .slice(0, -2)
        .flat()
        .filter((a): a is string => typeof a === 'string');
      const ctx = new CliContext(command.optsWithGlobals<GlobalOptions>(), output, env);
      try {
        const code = await action(ctx, options, ...positional);
        if (typeof code === 'number') process.exitCode = code;
      } finally {
        await ctx.close();
      }
    };
}
