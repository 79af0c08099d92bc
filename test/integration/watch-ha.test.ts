import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { signWebhook } from '../../src/notify/channels.js';
import { freePort } from '../../src/util/ports.js';
import type { AlertJson } from '../../src/watch/alert-json.js';
import type { VaultClient } from '../../src/vault/client.js';
import { startTestLab, type TestLab } from '../harness/bao-lab.js';
import { ROOT, runCli } from '../harness/cli.js';
import { trackPid, untrackPid } from '../harness/cleanup.js';
import { startPostgres, type TestPostgres } from '../harness/postgres.js';
import { until } from '../harness/raft-faults.js';
import { startReceiver } from '../harness/receiver.js';

const SIGNING_KEY = 'watch-ha-signing-key-0123456789';

interface Notice {
  kind: 'firing' | 'resolved';
  alert: AlertJson;
}

interface Instance {
  name: string;
  port: number;
  child: ChildProcess;
  log: () => string;
  exited: Promise<number | null>;
}

interface Health {
  ok: boolean;
  ha: { role: 'leader' | 'standby'; holder: string; leader: string | null; epoch: number | null } | null;
}

/**
 * High availability: three real `sealwatch watch` processes share one real PostgreSQL store and
 * watch one real OpenBao node; a real HTTP receiver counts what they send. The lease holder is
 * SIGKILLed twice (the node sealed before, unsealed during the takeover, sealed again after it):
 * another takes over within 15 s and every firing and resolve notice arrives exactly once.
 */
describe('watch high availability on PostgreSQL', () => {
  let lab: TestLab;
  let vault: VaultClient;
  let pg: TestPostgres;
  let receiver: Awaited<ReturnType<typeof startReceiver>>;
  let dir: string;
  let env: Record<string, string>;
  const instances: Instance[] = [];

  const config = () => join(dir, 'sealwatch.yaml');
  const cli = (args: string[]) => runCli(['--config', config(), ...args], { env });

  const startInstance = async (name: string, configFile = config()): Promise<Instance> => {
    const port = await freePort();
    let log = '';
    const child = spawn(
      process.execPath,
      [
        join(ROOT, 'dist', 'cli', 'main.js'),
        '--config',
        configFile,
        'watch',
        '--listen',
        `127.0.0.1:${port}`,
        '--audit-file',
        lab.lab().audit_log,
        '--interval',
        '1s',
      ],
      { env: { ...process.env, ...env }, stdio: ['ignore', 'ignore', 'pipe'] },
    );
    trackPid(child.pid!);
    child.stderr.setEncoding('utf8').on('data', (d: string) => (log = (log + d).slice(-20_000)));
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    void exited.then(() => untrackPid(child.pid!));
    const instance = { name, port, child, log: () => log, exited };
    instances.push(instance);
    return instance;
  };
  const alive = () => instances.filter((i) => i.child.exitCode === null && i.child.signalCode === null);
  const health = async (i: Instance): Promise<Health | undefined> => {
    // Not answering yet (starting) or any more (killed): no health to read.
    const res = await fetch(`http://127.0.0.1:${i.port}/healthz`).catch(() => undefined);
    return res ? ((await res.json()) as Health) : undefined;
  };
  const leaderMetric = async (i: Instance) => {
    const res = await fetch(`http://127.0.0.1:${i.port}/metrics`).catch(() => undefined);
    const m = res && /^sealwatch_watch_leader (\d)/m.exec(await res.text());
    return m ? Number(m[1]) : undefined;
  };
  /** The one live instance whose metric says it holds the lease, once the others say standby. */
  const soleLeader = async () => {
    const live = alive();
    const flags = await Promise.all(live.map(leaderMetric));
    if (flags.some((f) => f === undefined)) return undefined;
    const leaders = live.filter((_, k) => flags[k] === 1);
    return leaders.length === 1 ? leaders[0] : undefined;
  };

  const notices = () =>
    receiver.received().map((r) => {
      const timestamp = Number(r.headers['x-sealwatch-timestamp']);
      expect(r.headers['x-sealwatch-signature']).toBe(signWebhook(SIGNING_KEY, timestamp, r.body));
      return { ...r.json<Notice>(), key: String(r.headers['idempotency-key']) };
    });
  const noticesOf = (rule: string, kind: Notice['kind']) =>
    notices().filter((n) => n.alert.rule === rule && n.kind === kind);

  const seal = () => vault.seal(lab.lab().nodes[0]!.address);
  const unseal = async () => {
    const node = lab.lab().nodes[0]!.address;
    for (const key of lab.lab().unseal_keys.slice(0, lab.lab().key_threshold)) await vault.unseal(node, key);
  };

  /** SIGKILLs the holder and measures until another instance says it holds the lease. */
  const killHolder = async () => {
    const holder = await until('one lease holder', soleLeader, 30_000);
    const killed = Date.now();
    holder.child.kill('SIGKILL');
    await holder.exited;
    const next = await until('another lease holder', soleLeader, 30_000);
    return { holder, next, takeoverMs: Date.now() - killed };
  };

  beforeAll(async () => {
    [lab, pg, receiver] = await Promise.all([
      startTestLab({ nodes: 1, tenants: 1 }),
      startPostgres(),
      startReceiver('ok'),
    ]);
    vault = lab.client();
    dir = mkdtempSync(join(tmpdir(), 'sealwatch-watch-ha-'));
    env = { BAO_TOKEN: lab.lab().root_token, WATCH_SIGNING_KEY: SIGNING_KEY };
    writeFileSync(
      config(),
      stringify({
        vault: { addresses: lab.lab().nodes.map((n) => n.address) },
        store: { url: pg.url },
        watch: {
          node_timeout: '2s',
          repeat_interval: '1h',
          channels: [
            { kind: 'webhook', url: `${receiver.url}/hook`, signing_key: { env: 'WATCH_SIGNING_KEY' } },
          ],
        },
      }),
    );
  }, 180_000);

  afterAll(async () => {
    for (const i of alive()) i.child.kill('SIGTERM');
    await Promise.all(instances.map((i) => i.exited));
    if (process.env['SEALWATCH_TEST_VERBOSE'])
      for (const i of instances) process.stderr.write(`---- ${i.name}\n${i.log()}`);
    await Promise.allSettled([lab?.stop(), pg?.stop(), receiver?.close()]);
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('three instances: one holds the lease, the others stand by and say so', async () => {
    await Promise.all(['a', 'b', 'c'].map((n) => startInstance(n)));
    const holder = await until('one lease holder', soleLeader, 60_000);
    for (const i of instances) {
      const h = await until(`${i.name} healthy`, async () => {
        const x = await health(i);
        return x?.ok && x.ha?.leader ? x : undefined;
      });
      expect(h.ha).toMatchObject({ role: i === holder ? 'leader' : 'standby' });
      expect(h.ha!.leader).toBe((await health(holder))!.ha!.holder);
    }
    expect(await Promise.all(instances.map(leaderMetric))).toEqual(
      instances.map((i) => (i === holder ? 1 : 0)),
    );
  }, 90_000);

  it('the holder ingests the audit file (standbys wait for the lease), and each event is stored once', async () => {
    const probe = `secret/data/ha-probe-${Date.now()}`;
    await vault.read(probe).catch(() => undefined); // a 404 is audited like any other request
    const stored = async () => {
      const r = await cli(['audit', 'query', '--path-prefix', probe, '--json']);
      expect(r.code, r.stderr).toBe(0);
      return r.json<{ type: string }[]>();
    };
    await until('the probe stored', async () => (await stored()).length >= 2);
    await new Promise((r) => setTimeout(r, 2_000));
    expect((await stored()).map((e) => e.type).sort()).toEqual(['request', 'response']);
  }, 60_000);

  it('SIGKILL of the holder: another takes over within 15 s; firing and resolve notices arrive exactly once', async () => {
    await seal();
    await until('the first node-sealed notice', async () => noticesOf('node-sealed', 'firing')[0]);
    // The holder marks what it sent right after the receiver answers: let that commit.
    await new Promise((r) => setTimeout(r, 1_000));

    // Unsealed while nobody holds the lease: the next holder sends the resolve.
    const first = await killHolder();
    await unseal();
    await until('the node-sealed resolve', async () => noticesOf('node-sealed', 'resolved')[0]);
    expect(first.takeoverMs).toBeLessThan(15_000);
    // A one-node raft is active a while after its unseal: seal it again only then.
    const node = lab.lab().nodes[0]!.address;
    await until('the node active again', async () => (await vault.health(node)).httpStatus === 200);

    // Sealed again after the takeover: the new holder fires; then it is killed too.
    await seal();
    await until('the second node-sealed notice', async () => noticesOf('node-sealed', 'firing')[1]);
    await new Promise((r) => setTimeout(r, 1_000));
    const second = await killHolder();
    expect(second.takeoverMs).toBeLessThan(15_000);
    await unseal();
    await until('the second resolve', async () => noticesOf('node-sealed', 'resolved')[1]);
    process.stderr.write(
      `watch HA takeover after SIGKILL: ${first.takeoverMs} ms, ${second.takeoverMs} ms\n`,
    );

    // Quiet for a few cycles: nothing arrives late or twice.
    await new Promise((r) => setTimeout(r, 4_000));
    // Per alert episode (started_at) exactly one firing and one resolve notice. no-leader may have
    // other episodes than the two seals (a health read that timed out on a loaded machine is a real
    // moment without an active node; a node slow to become active after its unseal joins two), but
    // episodes of one rule never overlap: two holders evaluating at once would open one alert twice.
    for (const rule of ['node-sealed', 'no-leader']) {
      const episodes = new Map<string, Notice[]>();
      for (const n of notices().filter((x) => x.alert.rule === rule))
        episodes.set(n.alert.started_at, [...(episodes.get(n.alert.started_at) ?? []), n]);
      const told = [...episodes.values()].map((e) => e.map((n) => n.kind));
      const shown = JSON.stringify(
        [...episodes.values()].map((e) => e.map((n) => [n.kind, n.alert.started_at, n.alert.resolved_at])),
      );
      process.stderr.write(`watch HA ${rule} episodes: ${shown}\n`);
      for (const kinds of told) expect(kinds, `${rule}: ${shown}`).toEqual(['firing', 'resolved']);
      if (rule === 'node-sealed') expect(told, shown).toHaveLength(2);
      else expect(told.length, shown).toBeGreaterThanOrEqual(1);
      const spans = [...episodes.values()]
        .map((e) => [Date.parse(e[0]!.alert.started_at), Date.parse(e[1]!.alert.resolved_at!)] as const)
        .sort((x, y) => x[0] - y[0]);
      for (let k = 1; k < spans.length; k++)
        expect(spans[k]![0], `${rule} episodes overlap: ${shown}`).toBeGreaterThanOrEqual(spans[k - 1]![1]);
    }
    const keys = notices().map((n) => n.key);
    expect(new Set(keys).size).toBe(keys.length);
    // The outbox agrees: every notice sent, none queued or failed.
    const list = await cli(['alerts', 'list', '--all', '--json']);
    const sealed = list.json<AlertJson[]>().find((a) => a.rule === 'node-sealed')!;
    const show = await cli(['alerts', 'show', sealed.fingerprint, '--json']);
    const states = show.json<{ notices: { state: string }[] }>().notices.map((n) => n.state);
    expect(states.length).toBeGreaterThanOrEqual(2);
    expect(new Set(states)).toEqual(new Set(['sent']));
    expect(alive()).toHaveLength(1);
  }, 240_000);

  it('a live detection is written and notified once, by the holder, with a standby beside it', async () => {
    await startInstance('d');
    await until('one holder and one standby', async () => (alive().length === 2 ? soleLeader() : undefined));
    const name = `ha-probe-${Date.now()}`;
    await vault.writePolicy(name, 'path "secret/data/x" { capabilities = ["read"] }');
    const ofProbe = () =>
      noticesOf('sys-change', 'firing').filter((n) => n.alert.labels['path'] === `sys/policies/acl/${name}`);
    await until('the sys-change notice', async () => ofProbe()[0], 30_000);
    // A few more cycles: the standby neither writes nor notifies it too.
    await new Promise((r) => setTimeout(r, 4_000));
    expect(ofProbe()).toHaveLength(1);
  }, 90_000);

  it('on SQLite a second watch refuses to start while the first holds the lease', async () => {
    const sqliteConfig = join(dir, 'sqlite.yaml');
    writeFileSync(
      sqliteConfig,
      stringify({
        vault: { addresses: lab.lab().nodes.map((n) => n.address) },
        store: { url: join(dir, 'sealwatch.db') },
        watch: { ha: { lease_ttl: '2s' } },
      }),
    );
    const first = await startInstance('sqlite-1', sqliteConfig);
    await until('the SQLite watch holds the lease', async () => (await leaderMetric(first)) === 1, 30_000);
    const second = await startInstance('sqlite-2', sqliteConfig);
    expect(await second.exited).toBe(1);
    expect(second.log()).toMatch(/another watch \(.+\) holds the lease of the SQLite store/);
    expect(await leaderMetric(first)).toBe(1);
    // A clean stop gives the lease up: the next one starts at once.
    first.child.kill('SIGTERM');
    await first.exited;
    const third = await startInstance('sqlite-3', sqliteConfig);
    await until(
      'the next SQLite watch holds the lease',
      async () => (await leaderMetric(third)) === 1,
      30_000,
    );
    third.child.kill('SIGTERM');
    await third.exited;
  }, 90_000);
});
