import { displayText } from '../util/text.js';
/**
 * Everything the CLI prints: data to stdout, progress and errors to stderr. The one place besides
 * main.ts that writes to the terminal.
 */
export interface Output {
  json(value: unknown): void;
  line(text?: string): void;
  table(rows: readonly object[], columns?: readonly string[]): void;
  progress(text: string): void;
  error(text: string): void;
}

export function terminalOutput(
  stdout: NodeJS.WritableStream = process.stdout,
  stderr: NodeJS.WritableStream = process.stderr,
): Output {
  return {
    json: (value) => stdout.write(JSON.stringify(value, null, 2) + '\n'),
    line: (text = '') => stdout.write(text + '\n'),
    table: (rows, columns) => stdout.write(renderTable(rows, columns)),
    progress: (text) => stderr.write(`${text}\n`),
    error: (text) => stderr.write(`${text}\n`),
  };
}

export function renderTable(objects: readonly object[], columns?: readonly string[]): string {
  const rows = objects.map((o) => Object.fromEntries(Object.entries(o)));
  const cols = columns ?? [...new Set(rows.flatMap((r) => Object.keys(r)))];
  const cell = (value: unknown) => displayText(value, '-');
  const widths = cols.map((c) => Math.max(c.length, ...rows.map((r) => cell(r[c]).length)));
  const fmt = (values: string[]) =>
    values
      .map((v, i) => v.padEnd(widths[i]!))
      .join('  ')
      .trimEnd();
  return (
    [fmt(cols.map((c) => c.toUpperCase())), ...rows.map((r) => fmt(cols.map((c) => cell(r[c]))))].join('\n') +
    '\n'
  );
}
