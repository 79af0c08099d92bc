import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ROOT, runCli } from '../harness/cli.js';

// Log lines come from ingesting a file with malformed lines at debug level: no server needed.
const dir = mkdtempSync(join(tmpdir(), 'sealwatch-log-format-'));
const log = join(dir, 'audit.log');
writeFileSync(log, 'not json\n');
const ingest = (store: string, ...flags: string[]) => [
  '--log-level',
  'debug',
  ...flags,
  '--store',
  join(dir, `${store}.db`),
  'audit',
  'ingest',
  log,
];
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const JSON_LINE = /^\{"level":20,.*"msg":"malformed audit line"\}$/m;

describe('log lines on standard error', () => {
  it('are human lines on a terminal', () => {
    // util-linux `script` gives the CLI a pseudo-terminal, as a person's shell does.
    const command = ['node', join(ROOT, 'dist', 'cli', 'main.js'), ...ingest('tty')].join(' ');
    const result = spawnSync('script', ['-qec', command, '/dev/null'], { encoding: 'utf8', cwd: ROOT });
    expect(result.status).toBe(0);
    expect(result.stdout).toMatch(/DEBUG.*malformed audit line.*"reason": ?"not JSON"/);
    expect(result.stdout).not.toContain('{"level"');
  });

  it('are JSON lines into a pipe, human lines with --log-format pretty', async () => {
    const piped = await runCli(ingest('pipe'));
    expect(piped.code).toBe(0);
    expect(piped.stderr).toMatch(JSON_LINE);
    const forced = await runCli(ingest('forced', '--log-format', 'pretty'));
    expect(forced.stderr).toMatch(/DEBUG.*malformed audit line/);
    expect(forced.stderr).not.toContain('{"level"');
  });

  it('refuses an unknown format from the environment as a usage error', async () => {
    const result = await runCli(ingest('bad'), { env: { SEALWATCH_LOG_FORMAT: 'xml' } });
    expect(result.code).toBe(2);
    expect(result.stderr).toContain('SEALWATCH_LOG_FORMAT must be one of pretty, json');
  });
});
