import { spawn, type ChildProcess } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { acceptsConnections, freePort } from '../../src/util/ports.js';
import { findBaoBinary } from '../../src/vault/bao-binary.js';
import { runCli } from '../harness/cli.js';

/**
 * A server the lab did not make, on storage that is not raft and has no HA: `bao server -dev`
 * (in-memory storage). Its one unsealed node is the active one, and it has no raft peers to show.
 */
describe('sealwatch status on a dev server (in-memory storage, no HA, no raft)', () => {
  let server: ChildProcess;
  let addr: string;
  beforeAll(async () => {
    const port = await freePort();
    addr = `http://127.0.0.1:${port}`;
    server = spawn(
      findBaoBinary(),
      ['server', '-dev', '-dev-root-token-id=dev-root', `-dev-listen-address=127.0.0.1:${port}`],
      { stdio: 'ignore' },
    );
    const deadline = Date.now() + 20_000;
    while (!(await acceptsConnections(port))) {
      if (Date.now() > deadline) throw new Error(`bao server -dev did not listen on ${addr}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  });
  afterAll(() => {
    server?.kill('SIGKILL');
  });

  it('names the node as the leader, says raft is not used, and is healthy', async () => {
    const env = { BAO_ADDR: addr, BAO_TOKEN: 'dev-root' };
    const json = await runCli(['status', '--json'], { env });
    expect(json.code).toBe(0);
    const report = json.json<{
      leader: { address: string | null; error: string | null };
      raft_configuration: { error: string | null; not_raft?: boolean };
      healthy: boolean;
      problems: string[];
    }>();
    expect(report.leader).toEqual({ address: addr, error: null });
    expect(report.raft_configuration).toMatchObject({ error: null, not_raft: true });
    expect(report).toMatchObject({ healthy: true, problems: [] });

    const text = await runCli(['status'], { env });
    expect(text.code).toBe(0);
    expect(text.stdout).toContain(`leader: ${addr}`);
    expect(text.stdout).not.toContain('not healthy');
    expect(text.stderr).toContain('raft: not used by');
  });
});
