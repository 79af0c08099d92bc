import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Command } from 'commander';
import { beforeAll, describe, expect, it } from 'vitest';
import { buildProgram } from '../../src/cli/program.js';
import { checkDocument, commandLines, fencedBlocks, formatProblem } from './doc-examples.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const DOCUMENTS = [
  'README.md',
  ...readdirSync(join(ROOT, 'docs'))
    .filter((name) => name.endsWith('.md'))
    .map((name) => `docs/${name}`),
  'bench/README.md',
];
const read = (file: string) => readFileSync(join(ROOT, file), 'utf8');

describe('the documentation works as written', () => {
  let program: Command;
  beforeAll(async () => {
    // Every command module, loaded the way the CLI loads them for `sealwatch --help`.
    program = await buildProgram([]);
  });

  it.each(DOCUMENTS)(
    '%s: YAML examples load, sealwatch command lines parse, links and paths exist',
    (file) => {
      expect(checkDocument(file, read(file), program, ROOT).map(formatProblem)).toEqual([]);
    },
  );

  it('has the examples it claims to check (a check that finds nothing cannot fail)', () => {
    const blocks = DOCUMENTS.flatMap((file) => fencedBlocks(file, read(file)));
    expect(blocks.filter((b) => b.lang === 'yaml').length).toBeGreaterThanOrEqual(4);
    expect(blocks.flatMap(commandLines).length).toBeGreaterThanOrEqual(15);
  });
});
