import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Option, type Command } from 'commander';
import { beforeAll, describe, expect, it } from 'vitest';
import { buildProgram } from '../../src/cli/program.js';
import { runbookNamed } from '../../src/runbooks/registry.js';
import {
  checkCommandLine,
  checkDocument,
  commandLines,
  fencedBlocks,
  formatProblem,
  type CommandLine,
  type Problem,
} from './doc-examples.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const DOCUMENTS = [
  'README.md',
  ...readdirSync(join(ROOT, 'docs'))
    .filter((name) => name.endsWith('.md'))
    .map((name) => `docs/${name}`),
  'bench/README.md',
];
const read = (file: string) => readFileSync(join(ROOT, file), 'utf8');

/** Every command of the tree, parents before children. */
const allCommands = (command: Command): Command[] => [
  command,
  ...command.commands.flatMap((c) => allCommands(c)),
];

const pathOf = (command: Command): string =>
  command.parent ? `${pathOf(command.parent)} ${command.name()}` : command.name();

/** What `sealwatch … --help` prints, through commander's own output hooks (addHelpText included). */
function helpOf(command: Command): string {
  let text = '';
  for (let c: Command | null = command; c; c = c.parent)
    c.configureOutput({ writeOut: (chunk) => (text += chunk) });
  command.outputHelp();
  return text;
}

/** The `$ sealwatch …` lines of a command's help, as command lines to check. */
function helpExamples(command: Command): CommandLine[] {
  const text = helpOf(command)
    .split('\n')
    .filter((line) => /^\s+\$ sealwatch\b/.test(line))
    .map((line) => line.trim())
    .join('\n');
  return commandLines({
    file: `${pathOf(command)} --help`,
    lang: 'console',
    line: 1,
    text,
    marker: undefined,
  });
}

/**
 * `runbook diagnose|run NAME --flag`: the CLI takes every runbook's flags and refuses, at run time, one
 * that NAME does not declare (exit 2). Checked from the runbook registry's own declarations.
 */
function runbookFlagProblems(command: CommandLine): Problem[] {
  const match = /^runbook\s+(diagnose|run)\s+([\w-]+)(.*)$/.exec(command.text);
  if (!match) return [];
  const [, verb = '', name = '', rest = ''] = match;
  const runbook = runbookNamed(name);
  if (!runbook) return [{ file: command.file, line: command.line, message: `no runbook named ${name}` }];
  const own = new Set(
    runbook.flags.filter((f) => verb === 'run' || f.diagnose).map((f) => new Option(f.flags).long),
  );
  const common = new Set(['--json', '--config', '--store', '--addr', '--token', '--log-level', '--help']);
  const sub = /^run$/.test(verb)
    ? ['--incident', '--severity', '--unseal-keys-file', '--unseal-keys-stdin', '--yes', '--dry-run']
    : ['--fail-on'];
  return [...rest.replace(/#.*$/, '').matchAll(/(?:^|\s)(--[\w-]+)/g)]
    .map((m) => m[1]!)
    .filter((flag) => !own.has(flag) && !common.has(flag) && !sub.includes(flag))
    .map((flag) => ({
      file: command.file,
      line: command.line,
      message: `runbook ${name} does not take ${flag} for ${verb}`,
    }));
}

describe('runbook flags in examples', () => {
  const line = (text: string): CommandLine => ({ file: 'doc.md', line: 3, text });
  it('belong to the runbook named', () => {
    expect(runbookFlagProblems(line('runbook run memory --prefix auth/ --yes --json'))).toEqual([]);
    expect(runbookFlagProblems(line('runbook run sealed --prefix auth/')).map(formatProblem)).toEqual([
      'doc.md:3: runbook sealed does not take --prefix for run',
    ]);
    expect(runbookFlagProblems(line('runbook diagnose memory --prefix auth/')).map(formatProblem)).toEqual([
      'doc.md:3: runbook memory does not take --prefix for diagnose',
    ]);
    expect(runbookFlagProblems(line('runbook diagnose no-such')).map(formatProblem)).toEqual([
      'doc.md:3: no runbook named no-such',
    ]);
  });
});

describe('the documentation works as written', () => {
  let program: Command;
  beforeAll(async () => {
    // Every command module, loaded the way the CLI loads them for `sealwatch --help`.
    program = await buildProgram([]);
  });

  it.each(DOCUMENTS)(
    '%s: YAML examples load, sealwatch command lines parse, links and paths exist',
    (file) => {
      const text = read(file);
      const problems = [
        ...checkDocument(file, text, program, ROOT),
        ...fencedBlocks(file, text).flatMap(commandLines).flatMap(runbookFlagProblems),
      ];
      expect(problems.map(formatProblem)).toEqual([]);
    },
  );

  it('has the examples it claims to check (a check that finds nothing cannot fail)', () => {
    const blocks = DOCUMENTS.flatMap((file) => fencedBlocks(file, read(file)));
    expect(blocks.filter((b) => b.lang === 'yaml').length).toBeGreaterThanOrEqual(4);
    expect(blocks.flatMap(commandLines).length).toBeGreaterThanOrEqual(15);
  });

  it("every command's --help ends with examples, and each example parses", () => {
    const commands = allCommands(program);
    expect(commands.length).toBeGreaterThan(30);
    const missing = commands.filter((c) => helpExamples(c).length === 0).map(pathOf);
    expect(missing).toEqual([]);
    const problems = commands
      .flatMap(helpExamples)
      .flatMap((line) => [...checkCommandLine(program, line), ...runbookFlagProblems(line)]);
    expect(problems.map(formatProblem)).toEqual([]);
  });
});
