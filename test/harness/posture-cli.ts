import { join } from 'node:path';
import { expect } from 'vitest';
import type { FixEntry } from '../../src/cli/commands/posture-fix.js';
import type { PostureReport } from '../../src/posture/posture.service.js';
import type { PlainBaoServer } from './bao-server.js';
import { runCli, type CliResult } from './cli.js';

/** What `sealwatch posture fix --json` prints. */
export interface FixResult {
  dry_run: boolean;
  incident_id?: string;
  state?: string;
  fixes: FixEntry[];
}

/** The server, scratch directory (store inside) and config file the CLI runs against. */
export interface PostureCliTarget {
  server: PlainBaoServer;
  scratch: string;
  configFile: string;
}

/**
 * The built CLI against one server, for posture tests: `target` is read at each call, so a test can
 * create this before its beforeAll starts the server. `cli` runs any command with the config file
 * and the root token (or `token`), `fix` runs `posture fix … --json`, `findingIds` the ids a
 * `posture --json --only <check>` run reports (it must succeed).
 */
export function postureCli(target: () => PostureCliTarget) {
  const env = (token: string) => ({
    BAO_ADDR: target().server.address,
    BAO_TOKEN: token,
    SEALWATCH_STORE: join(target().scratch, 'store.db'),
  });
  const cli = (args: string[], token = target().server.rootToken): Promise<CliResult> =>
    runCli([...args, '--config', target().configFile], {
      env: env(token),
      cwd: target().scratch,
      timeoutMs: 120_000,
    });
  const fix = async (args: string[], token?: string) => {
    const result = await cli(['posture', 'fix', ...args, '--json'], token);
    return { result, json: result.code <= 1 && result.stdout ? result.json<FixResult>() : undefined };
  };
  const findingIds = async (only: string) => {
    const result = await cli(['posture', '--json', '--only', only]);
    expect(result.code, result.stderr).toBe(0);
    return result.json<PostureReport>().findings.map((f) => f.id);
  };
  return { env, cli, fix, findingIds };
}
