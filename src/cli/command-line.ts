/** Global options that take a value: the word after them is not the command. */
const VALUED_GLOBALS = new Set(['--config', '--store', '--addr', '--token', '--log-level', '--log-format']);

/** The command named on the line (`sealwatch --json runbook diagnose …` → runbook), if any. */
export function commandNamed(args: readonly string[]): string | undefined {
  for (let i = 0; i < args.length; i++) {
    const arg = args[i]!;
    if (arg === '--') return args[i + 1];
    if (!arg.startsWith('-')) return arg;
    if (VALUED_GLOBALS.has(arg)) i++;
  }
  return undefined;
}
