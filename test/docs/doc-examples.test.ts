import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Command } from 'commander';
import { afterAll, describe, expect, it } from 'vitest';
import {
  checkCommandLine,
  checkDocument,
  checkPaths,
  checkYamlBlock,
  commandLines,
  fencedBlocks,
  formatProblem,
  headingAnchor,
} from './doc-examples.js';

const md = (...lines: string[]) => lines.join('\n');

/** The README's rotation example as it was published: flow mappings holding `{tenant}` unquoted. */
const BROKEN_ROTATION = md(
  '# Rotation',
  '',
  '```yaml',
  'rotation:',
  '  secrets:',
  '    - { kind: ssh, path: secret/tenants/{tenant}/ssh }',
  '```',
);

const yamlProblems = (markdown: string) =>
  fencedBlocks('doc.md', markdown).flatMap(checkYamlBlock).map(formatProblem);

describe('YAML examples go through the config loader', () => {
  it('fails on the broken rotation example, at its line, saying it is not valid YAML', () => {
    const problems = yamlProblems(BROKEN_ROTATION);
    expect(problems).toHaveLength(1);
    expect(problems[0]).toMatch(/^doc\.md:6: YAML example is not valid YAML \(column \d+\): /);
  });

  it('passes the same example with the template quoted', () => {
    expect(
      yamlProblems(BROKEN_ROTATION.replace('secret/tenants/{tenant}/ssh', "'secret/tenants/{tenant}/ssh'")),
    ).toEqual([]);
  });

  it('reports what the schema refuses at the line of the key', () => {
    const problems = yamlProblems(
      md('```yaml', 'vault:', '  timeout_ms: 10000', '  adresses: [http://a:8200]', '```'),
    );
    expect(problems).toEqual([
      'doc.md:4: YAML example does not load as a sealwatch config: unknown key "vault.adresses"',
    ]);
    expect(
      yamlProblems(md('```yaml', 'tenancy:', '  paths:', '    - secret/tenants/{tenant/smtp', '```'))[0],
    ).toMatch(/^doc\.md:4: YAML example does not load as a sealwatch config: tenancy\.paths\.0: /);
  });

  it('merges a marked fragment into a minimal config under its key path', () => {
    const fragment = (mode: string) =>
      md(
        '<!-- fragment: rotation.targets -->',
        '```yaml',
        'dkim:',
        `  mode: ${mode}`,
        '  file: records.txt',
        '```',
      );
    expect(yamlProblems(fragment('records-file'))).toEqual([]);
    const problems = yamlProblems(fragment('carrier-pigeon'));
    expect(problems).toHaveLength(1);
    expect(problems[0]).toMatch(
      /^doc\.md:\d+: YAML fragment does not load as a sealwatch config: rotation\.targets\.dkim/,
    );
    // Unmarked, the same block is a whole config whose top-level key `dkim` is unknown.
    expect(yamlProblems(fragment('records-file').split('\n').slice(1).join('\n'))[0]).toMatch(
      /unknown key "dkim"/,
    );
  });

  it('skips a block marked as not a sealwatch config', () => {
    expect(yamlProblems(md('<!-- not-config -->', '', '```yaml', 'audit: { file: x }', '```'))).toEqual([]);
  });
});

/** A small program shaped like sealwatch's: global options, nested commands, arguments. */
function program(): Command {
  const root = new Command('sealwatch').option('--json').option('--config <file>');
  const incident = root.command('incident');
  incident.command('list');
  incident.command('show [id]').option('--last');
  incident.command('resume [id]').option('--last').option('--yes');
  root.command('assess').option('--since <when>').option('--fail-on <severity>');
  root.command('rotate').option('--tenant <id...>').option('--all').option('--kinds <kinds>');
  return root;
}

const commandProblems = (shell: string, lang = 'sh') =>
  fencedBlocks('doc.md', md(`\`\`\`${lang}`, shell, '```'))
    .flatMap(commandLines)
    .flatMap((c) => checkCommandLine(program(), c))
    .map(formatProblem);

describe('sealwatch command lines are checked against the commander definitions', () => {
  it('accepts synopses: brackets, alternatives, choices, continuation lines, comments, pipes', () => {
    expect(
      commandProblems(
        md(
          'sealwatch incident list | show ID | resume (ID|--last) [--yes]   # alternatives',
          'sealwatch --json assess [--since 24h|ISO] \\',
          '    [--fail-on high] | jq -r .affected_tenants',
          'sealwatch rotate --tenant acme globex --kinds ssh,smtp,... --all',
          'echo done && sealwatch --config=x.yaml assess',
          'sealwatch assess --since 1h < /dev/null > out.json 2>&1',
        ),
      ),
    ).toEqual([]);
    expect(
      commandProblems(md('$ sealwatch assess --since 1h', 'sealwatch assess --nope'), 'console'),
    ).toEqual([]);
  });

  it('fails on an unknown command, an unknown flag and a stray argument, with file and line', () => {
    expect(commandProblems(md('ls', 'sealwatch asess --json'))).toEqual([
      'doc.md:3: `sealwatch` has no command asess (commands: incident, assess, rotate)',
    ]);
    expect(commandProblems('sealwatch rotate --al')).toEqual([
      'doc.md:2: `sealwatch rotate` has no option --al',
    ]);
    expect(commandProblems('sealwatch incident resume --last --force')).toEqual([
      'doc.md:2: `sealwatch incident resume` has no option --force',
    ]);
    expect(commandProblems('sealwatch incident list extra')).toEqual([
      'doc.md:2: `sealwatch incident list` takes no argument, but the example gives extra',
    ]);
  });

  it('reads a flag of a later alternative against that command', () => {
    expect(commandProblems('sealwatch incident list | resume --yes | show --yes')).toEqual([
      'doc.md:2: `sealwatch incident show` has no option --yes',
    ]);
  });
});

describe('links and repository paths must exist', () => {
  const root = mkdtempSync(join(tmpdir(), 'sealwatch-docs-'));
  mkdirSync(join(root, 'docs'));
  mkdirSync(join(root, 'src', 'rules'), { recursive: true });
  writeFileSync(join(root, 'src', 'rules', 'a.rule.ts'), '');
  writeFileSync(join(root, 'docs', 'guide.md'), '# The guide\n\n## Global options (every command)\n');
  afterAll(() => rmSync(root, { recursive: true, force: true }));

  it('passes links, anchors and paths that exist', () => {
    const text = md(
      'See [the guide](docs/guide.md#global-options-every-command), [top](#top) and `src/rules/*.rule.ts`.',
      '',
      '# Top',
      '```sh',
      './src/rules/a.rule.ts --x   # a path in a shell block',
      '```',
    );
    expect(checkPaths('README.md', text, root)).toEqual([]);
  });

  it('fails on a missing file, a missing heading and a missing path', () => {
    const text = md(
      '[gone](docs/gone.md) and [bad anchor](docs/guide.md#nowhere)',
      'rules live in `src/rules/*.check.ts` and `src/missing.ts`; `secret/tenants/{tenant}` is no file',
    );
    expect(checkPaths('README.md', text, root).map(formatProblem)).toEqual([
      'README.md:1: link to docs/gone.md: docs/gone.md does not exist',
      'README.md:1: link to docs/guide.md#nowhere: no heading #nowhere in docs/guide.md',
      'README.md:2: names src/rules/*.check.ts, which does not exist',
      'README.md:2: names src/missing.ts, which does not exist',
    ]);
  });

  it('resolves a link relative to the document that holds it', () => {
    expect(checkPaths('docs/other.md', '[guide](guide.md) [up](../docs/guide.md)', root)).toEqual([]);
  });

  it('makes anchors as GitHub does', () => {
    expect(headingAnchor("Rotating every tenant's secrets")).toBe('rotating-every-tenants-secrets');
    expect(headingAnchor('`sealwatch status` and more')).toBe('sealwatch-status-and-more');
  });

  it('checkDocument puts every kind of problem together, in line order', () => {
    const text = md('```sh', 'sealwatch rotate --al', '```', '', BROKEN_ROTATION, '[x](nowhere.md)');
    expect(checkDocument('README.md', text, program(), root).map((p) => p.line)).toEqual([2, 10, 12]);
  });
});
