import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { stringify } from 'yaml';
import { SealwatchError, errorMessage } from '../errors.js';
import type { Logger } from '../logging/logger.js';
import { VaultClient } from '../vault/client.js';
import type { HealthStatus } from '../vault/types.js';
import { waitFor } from '../util/wait.js';
import { findBaoBinary } from '../vault/bao-binary.js';
import {
  LAB_CONFIG_FILE,
  LAB_WARNING,
  labFilePath,
  readLabFile,
  writeLabFile,
  type LabFile,
  type LabNode,
} from './lab-file.js';
import { LAB_ROTATION_SECRETS, LAB_TENANT_TEMPLATES, LAB_TENANTS_PATH, LAB_TEST_TENANT } from './layout.js';
import { ensureLabMailCatcher, labNotifyConfig, startLabMailCatcher, stopLabMailCatcher } from './mail.js';
import { renderNodeConfig } from '../vault/node-config.js';
import { freePorts } from '../util/ports.js';
import { isAlive, spawnDetached, stopProcess } from '../util/processes.js';
import { seedLab } from './seed.js';

export const DEFAULT_LAB_DIR = '.sealwatch/lab';
export const KEY_SHARES = 5;
export const KEY_THRESHOLD = 3;

export class LabError extends SealwatchError {
  constructor(message: string, options: ConstructorParameters<typeof SealwatchError>[2] = {}) {
    super('lab_failed', message, options);
  }
}

export interface LabDeps {
  logger: Logger;
  /** Progress lines for a human (stderr); not logs. */
  onProgress?: (message: string) => void;
  env?: Readonly<Record<string, string | undefined>>;
}

export interface LabUpOptions {
  dir: string;
  nodes: 1 | 3;
  tenants: number;
  /** host:port for a socket audit device streaming to `sealwatch audit listen`. */
  auditSocket?: string | undefined;
}

export interface LabUpResult {
  lab: LabFile;
  dir: string;
  restarted: boolean;
  seconds: number;
}

const START_TIMEOUT_MS = 45_000;

/**
 * Starts a local OpenBao lab: server mode (not -dev), raft storage, loopback listeners on free
 * ports, telemetry, a declarative file audit device, Shamir 5/3, unsealed, joined, seeded.
 * A lab whose processes have stopped is restarted and unsealed with its saved keys.
 */
export async function labUp(options: LabUpOptions, deps: LabDeps): Promise<LabUpResult> {
  const started = Date.now();
  const dir = resolve(options.dir);
  if (existsSync(labFilePath(dir))) {
    const lab = readLabFile(dir);
    const restarted = await restartLab(dir, lab, deps);
    return { lab: restarted, dir, restarted: true, seconds: (Date.now() - started) / 1000 };
  }
  const lab = await createLab(dir, options, deps);
  return { lab, dir, restarted: false, seconds: (Date.now() - started) / 1000 };
}

async function createLab(dir: string, options: LabUpOptions, deps: LabDeps): Promise<LabFile> {
  const progress = deps.onProgress ?? (() => undefined);
  const bao = findBaoBinary(deps.env);
  mkdirSync(join(dir, 'audit'), { recursive: true, mode: 0o700 });
  const auditLog = join(dir, 'audit', 'audit.log');
  const ports = await freePorts(options.nodes * 2);
  const planned = Array.from({ length: options.nodes }, (_, i) => {
    const nodeId = `node${i + 1}`;
    const nodeDir = join(dir, 'nodes', nodeId);
    return {
      nodeId,
      nodeDir,
      apiPort: ports[i * 2]!,
      clusterPort: ports[i * 2 + 1]!,
      address: `http://127.0.0.1:${ports[i * 2]!}`,
    };
  });
  const spawned: LabNode[] = [];
  let mailPid: number | undefined;
  try {
    for (const node of planned) {
      mkdirSync(join(node.nodeDir, 'data'), { recursive: true, mode: 0o700 });
      const configFile = join(node.nodeDir, 'config.hcl');
      writeFileSync(
        configFile,
        renderNodeConfig({
          nodeId: node.nodeId,
          dataDir: join(node.nodeDir, 'data'),
          apiPort: node.apiPort,
          clusterPort: node.clusterPort,
          peers: planned.filter((p) => p !== node).map((p) => p.address),
          auditFile: auditLog,
          auditSocket: options.auditSocket,
        }),
      );
      const logFile = join(node.nodeDir, 'server.log');
      const pid = spawnDetached(bao, ['server', `-config=${configFile}`], logFile);
      spawned.push({
        node_id: node.nodeId,
        address: node.address,
        cluster_address: `https://127.0.0.1:${node.clusterPort}`,
        pid,
        data_dir: join(node.nodeDir, 'data'),
        config_file: configFile,
        log_file: logFile,
      });
    }
    progress(`started ${spawned.length} OpenBao node${spawned.length > 1 ? 's' : ''} (${bao})`);
    const vault = labClient(spawned, undefined, deps.logger);
    try {
      await Promise.all(spawned.map((node) => waitForApi(vault, node)));
      const first = spawned[0]!;
      const init = await vault.init(first.address, {
        secret_shares: KEY_SHARES,
        secret_threshold: KEY_THRESHOLD,
      });
      const mail = await startLabMailCatcher(dir);
      mailPid = mail.pid;
      const lab: LabFile = {
        lab_only: true,
        warning: LAB_WARNING,
        created_at: new Date().toISOString(),
        root_token: init.root_token,
        unseal_keys: init.keys,
        key_shares: KEY_SHARES,
        key_threshold: KEY_THRESHOLD,
        bao_binary: bao,
        audit_log: auditLog,
        ...(options.auditSocket ? { audit_socket: options.auditSocket } : {}),
        tenants: 0,
        nodes: spawned,
        apps: [],
        mail,
      };
      // Written at once, so `lab down` can stop the processes even if seeding fails.
      writeLabFile(dir, lab);
      writeLabConfig(dir, lab);
      progress(`initialised (Shamir ${KEY_SHARES} shares, threshold ${KEY_THRESHOLD}); unsealing`);
      vault.setToken(lab.root_token);
      await unsealAll(vault, lab, 'fresh');
      progress(`seeding ${options.tenants} tenants`);
      const seeded = await seedLab(vault, {
        tenants: options.tenants,
        logger: deps.logger,
        onProgress: progress,
      });
      const final: LabFile = { ...lab, tenants: options.tenants, apps: seeded.apps };
      writeLabFile(dir, final);
      return final;
    } finally {
      await vault.close();
    }
  } catch (error) {
    await Promise.all(spawned.map((n) => stopProcess(n.pid, 5_000)));
    if (mailPid !== undefined) await stopProcess(mailPid, 5_000);
    if (error instanceof SealwatchError) throw error;
    throw new LabError(`lab up failed in ${dir}: ${errorMessage(error)}`, { cause: error });
  }
}

/** Starts the stopped nodes of an existing lab and unseals every sealed one. */
async function restartLab(dir: string, saved: LabFile, deps: LabDeps): Promise<LabFile> {
  const progress = deps.onProgress ?? (() => undefined);
  const lab = await restartMailCatcher(dir, saved);
  if (lab.nodes.every((n) => isAlive(n.pid))) {
    const vault = labClient(lab.nodes, lab.root_token, deps.logger);
    try {
      const health = await Promise.all(lab.nodes.map((n) => vault.health(n.address)));
      if (health.every((h) => !h.sealed))
        throw new LabError(
          `a lab is already running in ${dir} (stop it with sealwatch lab down --dir ${dir})`,
        );
      progress(`unsealing ${health.filter((h) => h.sealed).length} sealed node(s) of the lab in ${dir}`);
      await unsealAll(vault, lab, 'restart');
      return lab;
    } finally {
      await vault.close();
    }
  }
  const nodes = lab.nodes.map((node) =>
    isAlive(node.pid)
      ? node
      : {
          ...node,
          pid: spawnDetached(lab.bao_binary, ['server', `-config=${node.config_file}`], node.log_file),
        },
  );
  const restarted = { ...lab, nodes };
  writeLabFile(dir, restarted);
  progress(`restarted ${nodes.length} node(s) of the lab in ${dir}; unsealing`);
  const vault = labClient(nodes, lab.root_token, deps.logger);
  try {
    await Promise.all(nodes.map((node) => waitForApi(vault, node)));
    await unsealAll(vault, restarted, 'restart');
  } finally {
    await vault.close();
  }
  return restarted;
}

/** Starts one stopped node of the lab again (runbooks use this after killing a node). */
export async function startLabNode(dir: string, nodeId: string, deps: LabDeps): Promise<LabNode> {
  const lab = readLabFile(dir);
  const node = lab.nodes.find((n) => n.node_id === nodeId);
  if (!node) throw new LabError(`lab in ${dir} has no node ${nodeId}`);
  if (isAlive(node.pid)) return node;
  const pid = spawnDetached(lab.bao_binary, ['server', `-config=${node.config_file}`], node.log_file);
  const updated = { ...node, pid };
  writeLabFile(dir, { ...lab, nodes: lab.nodes.map((n) => (n.node_id === nodeId ? updated : n)) });
  const vault = labClient([updated], lab.root_token, deps.logger);
  try {
    await waitForApi(vault, updated);
  } finally {
    await vault.close();
  }
  return updated;
}

export function labClient(nodes: readonly LabNode[], token: string | undefined, logger: Logger): VaultClient {
  return new VaultClient({
    addresses: nodes.map((n) => n.address),
    token,
    timeoutMs: 10_000,
    retries: 3,
    maxConnections: 16,
    logger,
  });
}

async function waitForApi(vault: VaultClient, node: LabNode): Promise<HealthStatus> {
  return waitFor(`${node.node_id} at ${node.address} to answer`, () => vault.health(node.address), {
    timeoutMs: START_TIMEOUT_MS,
    intervalMs: 100,
    abort: () => {
      if (!isAlive(node.pid))
        throw new LabError(`${node.node_id} exited at start: ${lastLogLine(node.log_file)}`);
    },
  });
}

/**
 * Fresh lab: the first node is unsealed and becomes leader, then the others are unsealed, which
 * completes their raft join. Restart: every node is unsealed, then one of them wins the election.
 */
async function unsealAll(vault: VaultClient, lab: LabFile, mode: 'fresh' | 'restart'): Promise<void> {
  const keys = lab.unseal_keys.slice(0, lab.key_threshold);
  const unsealNode = async (node: LabNode) => {
    if (!(await vault.health(node.address)).sealed) return true;
    for (const key of keys) if (!(await vault.unseal(node.address, key)).sealed) break;
    return true;
  };
  const unsealed = (node: LabNode) =>
    waitFor(
      `${node.node_id} at ${node.address} to be unsealed`,
      async () => {
        const health = await vault.health(node.address);
        return health.initialized && !health.sealed;
      },
      { timeoutMs: START_TIMEOUT_MS, intervalMs: 150 },
    );
  const [first, ...rest] = lab.nodes;
  if (!first) return;
  if (mode === 'fresh') {
    await unsealNode(first);
    await waitFor(
      `${first.node_id} to become active`,
      async () => (await vault.health(first.address)).httpStatus === 200,
      {
        timeoutMs: START_TIMEOUT_MS,
        intervalMs: 150,
      },
    );
    // Autopilot promotes a joined node to voter once it has been stable this long (default 10 s).
    await vault.write(
      'sys/storage/raft/autopilot/configuration',
      { server_stabilization_time: '2s', cleanup_dead_servers: false },
      { node: first.address },
    );
  }
  for (const node of mode === 'fresh' ? rest : lab.nodes) {
    // A joining node accepts keys only once its join attempt has reached the leader.
    await waitFor(`${node.node_id} to accept unseal keys`, () => unsealNode(node), {
      timeoutMs: START_TIMEOUT_MS,
      intervalMs: 300,
    });
  }
  await Promise.all(lab.nodes.map(unsealed));
  await waitFor(
    'a leader to be elected',
    async () => {
      const health = await Promise.all(lab.nodes.map((n) => vault.health(n.address)));
      return health.some((h) => h.httpStatus === 200);
    },
    { timeoutMs: START_TIMEOUT_MS, intervalMs: 150 },
  );
  if (lab.nodes.length > 1)
    await waitFor(
      'every node to be a healthy raft voter',
      async () => {
        const state = await vault.autopilotState();
        return state.healthy && state.voters.length === lab.nodes.length;
      },
      { timeoutMs: START_TIMEOUT_MS, intervalMs: 250 },
    );
}

export interface LabDownResult {
  nodes: { node_id: string; pid: number; result: 'stopped' | 'killed' | 'not-running' }[];
  purged: boolean;
}

/** Stops every process the lab started; deletes the lab directory only with `purge`. */
export async function labDown(dir: string, options: { purge: boolean }): Promise<LabDownResult> {
  const abs = resolve(dir);
  const lab = readLabFile(abs);
  const nodes = await Promise.all(
    lab.nodes.map(async (n) => ({ node_id: n.node_id, pid: n.pid, result: await stopProcess(n.pid) })),
  );
  const mail = await stopLabMailCatcher(lab);
  if (mail && lab.mail) nodes.push({ node_id: 'mail-catcher', pid: lab.mail.pid, result: mail });
  if (options.purge) rmSync(abs, { recursive: true, force: true });
  return { nodes, purged: options.purge };
}

export interface LabNodeStatus {
  node_id: string;
  address: string;
  pid: number;
  running: boolean;
  health?: HealthStatus;
  error?: string;
}

export async function labStatus(
  dir: string,
  deps: LabDeps,
): Promise<{ dir: string; tenants: number; nodes: LabNodeStatus[] }> {
  const abs = resolve(dir);
  const lab = readLabFile(abs);
  const vault = labClient(lab.nodes, undefined, deps.logger);
  try {
    const nodes = await Promise.all(
      lab.nodes.map(async (node): Promise<LabNodeStatus> => {
        const base = {
          node_id: node.node_id,
          address: node.address,
          pid: node.pid,
          running: isAlive(node.pid),
        };
        if (!base.running) return base;
        try {
          return { ...base, health: await vault.health(node.address) };
        } catch (error) {
          return { ...base, error: errorMessage(error) };
        }
      }),
    );
    return { dir: abs, tenants: lab.tenants, nodes };
  } finally {
    await vault.close();
  }
}

/** Shell lines that point BAO_*, VAULT_* and sealwatch at the lab. */
export function labEnv(dir: string): string[] {
  const abs = resolve(dir);
  const lab = readLabFile(abs);
  const addresses = lab.nodes.map((n) => n.address);
  const quote = (v: string) => `'${v.replace(/'/g, `'\\''`)}'`;
  return [
    `# sealwatch lab in ${abs} — LAB ONLY`,
    `export BAO_ADDR=${quote(addresses[0]!)}`,
    `export VAULT_ADDR=${quote(addresses[0]!)}`,
    `export BAO_TOKEN=${quote(lab.root_token)}`,
    `export VAULT_TOKEN=${quote(lab.root_token)}`,
    `export SEALWATCH_CONFIG=${quote(join(abs, LAB_CONFIG_FILE))}`,
  ];
}

function writeLabConfig(dir: string, lab: LabFile): void {
  const config = {
    vault: { addresses: lab.nodes.map((n) => n.address) },
    store: { url: 'sealwatch.db' },
    tenancy: {
      paths: [...LAB_TENANT_TEMPLATES],
      exclude: [LAB_TEST_TENANT],
      source: { kind: 'kv', path: LAB_TENANTS_PATH },
    },
    rotation: {
      // The lab has no SSH, SMTP, DNS or database servers of its own: every kind is applied in
      // Vault only. Point targets at real systems to see them rotated there.
      secrets: LAB_ROTATION_SECRETS.map((s) => ({ ...s })),
    },
    lab: { file: 'lab.json' },
    ...(labNotifyConfig(lab) ? { notify: labNotifyConfig(lab) } : {}),
  };
  writeFileSync(
    join(dir, LAB_CONFIG_FILE),
    `# sealwatch configuration for the lab in this directory (written by sealwatch lab up)\n${stringify(config)}`,
  );
}

function lastLogLine(file: string): string {
  try {
    const lines = readFileSync(file, 'utf8').trim().split('\n');
    return lines.filter((l) => /error|Error|failed/.test(l)).pop() ?? lines.pop() ?? '(empty log)';
  } catch {
    return '(no log)';
  }
}

/** A lab restarted after a reboot gets its mail catcher back on the port its config names. */
async function restartMailCatcher(dir: string, lab: LabFile): Promise<LabFile> {
  const updated = await ensureLabMailCatcher(dir, lab);
  if (updated !== lab) {
    writeLabFile(dir, updated);
    if (!lab.mail) writeLabConfig(dir, updated);
  }
  return updated;
}
