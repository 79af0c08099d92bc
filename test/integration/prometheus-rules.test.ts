import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { parse, stringify } from 'yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { runCli } from '../harness/cli.js';

const run = promisify(execFile);

/** promtool check rules on a file: exit code and what it printed. */
async function promtoolCheck(file: string): Promise<{ code: number; output: string }> {
  try {
    const { stdout, stderr } = await run('/usr/bin/promtool', ['check', 'rules', file]);
    return { code: 0, output: stdout + stderr };
  } catch (error) {
    // promtool exits 1 on invalid rules: that is the result under test, not a failure of the test.
    const failed = z.object({ code: z.number(), stdout: z.string(), stderr: z.string() }).parse(error);
    return { code: failed.code, output: failed.stdout + failed.stderr };
  }
}

describe('export prometheus-rules through promtool', () => {
  let dir: string;
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'sealwatch-rules-'));
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('writes a rule file promtool accepts', async () => {
    const file = join(dir, 'rules.yml');
    const result = await runCli(['export', 'prometheus-rules', '--output', file]);
    expect(result.code, result.stderr).toBe(0);
    const check = await promtoolCheck(file);
    expect(check.code, check.output).toBe(0);
    expect(check.output).toMatch(/SUCCESS: 2\d rules found/);
  });

  it('writes a PrometheusRule whose spec promtool accepts, under another prefix', async () => {
    const result = await runCli([
      'export',
      'prometheus-rules',
      '--format',
      'prometheusrule',
      '--metrics-prefix',
      'bao',
    ]);
    expect(result.code, result.stderr).toBe(0);
    const resource = z
      .object({
        apiVersion: z.literal('monitoring.coreos.com/v1'),
        kind: z.literal('PrometheusRule'),
        spec: z.unknown(),
      })
      .parse(parse(result.stdout));
    const file = join(dir, 'spec.yml');
    writeFileSync(file, stringify(resource.spec));
    const check = await promtoolCheck(file);
    expect(check.code, check.output).toBe(0);
    expect(result.stdout).toContain('bao_core_unsealed');
  });

  it('writes the same rules as JSON with --json, which promtool accepts too', async () => {
    const file = join(dir, 'rules.json');
    const result = await runCli(['--json', 'export', 'prometheus-rules', '--output', file]);
    expect(result.code, result.stderr).toBe(0);
    const yaml = await runCli(['export', 'prometheus-rules']);
    expect(JSON.parse(readFileSync(file, 'utf8'))).toEqual(parse(yaml.stdout));
    const check = await promtoolCheck(file);
    expect(check.code, check.output).toBe(0);
  });

  it('is checked for real: promtool refuses a broken rule', async () => {
    const file = join(dir, 'broken.yml');
    writeFileSync(file, stringify({ groups: [{ name: 'x', rules: [{ alert: 'X', expr: 'max by (' }] }] }));
    expect((await promtoolCheck(file)).code).not.toBe(0);
  });
});
