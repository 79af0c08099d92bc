/**
 * The "Examples:" section at the end of a command's `--help` (`command.addHelpText('after', …)`).
 * Every command has one; the documentation test runs each line through the command definitions.
 */
export function examples(...lines: readonly string[]): string {
  return `\nExamples:\n${lines.map((line) => `  $ ${line}`).join('\n')}\n`;
}
