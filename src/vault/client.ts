import type { Readable } from 'node:stream';
import { NotFoundError } from './errors.js';
import { KvV2 } from './kv.js';
import { endpointsFor, parseServerInfo, type Endpoints } from './server-info.js';
import { VaultTransport, type TransportOptions, type VaultRequest } from './transport.js';
import type {
  AuditDevice,
  AutopilotState,
  Envelope,
  GenerateRootStatus,
  HealthStatus,
  InitResponse,
  KeyStatus,
  LeaderStatus,
  LeaseInfo,
  MountInfo,
  RaftConfiguration,
  RekeyInitRequest,
  RekeyStatus,
  RekeyUpdateResult,
  SealStatus,
  ServerInfo,
  TokenAuth,
  TokenCreateRequest,
  TokenInfo,
} from './types.js';

export type VaultClientOptions = TransportOptions;

/** Which generate-root endpoints: the server's default (authenticated on OpenBao 2.6+) or the unauthenticated ones. */
export type GenerateRootVia = 'default' | 'unauthenticated';

/**
 * The typed Vault/OpenBao API client: the only code in sealwatch that speaks HTTP to Vault.
 * It knows several node addresses, fails over between them, and picks the endpoint each server
 * flavour and version offers (OpenBao's authenticated rotation endpoints, Vault's sys/rekey).
 */
export class VaultClient {
  readonly transport: VaultTransport;
  private info: Promise<ServerInfo> | undefined;

  constructor(options: VaultClientOptions | VaultTransport) {
    this.transport = options instanceof VaultTransport ? options : new VaultTransport(options);
  }

  get addresses(): readonly string[] {
    return this.transport.addresses;
  }

  setToken(token: string | undefined): void {
    this.transport.setToken(token);
  }

  close(): Promise<void> {
    return this.transport.close();
  }

  /** The same nodes and token with other limits (the caller closes it): a diagnosis must answer in seconds. */
  withLimits(overrides: { timeoutMs?: number; retries?: number }): VaultClient {
    return new VaultClient(this.transport.derive(overrides));
  }

  // ---- generic ---------------------------------------------------------------------------------

  async read<T = Record<string, unknown>>(
    path: string,
    req: Partial<VaultRequest> = {},
  ): Promise<Envelope<T>> {
    return (await this.transport.send<Envelope<T>>({ ...req, method: 'GET', path })).body;
  }

  /** Reads a path; undefined when it does not exist. */
  async readOptional<T = Record<string, unknown>>(path: string): Promise<Envelope<T> | undefined> {
    try {
      return await this.read<T>(path);
    } catch (error) {
      if (error instanceof NotFoundError) return undefined;
      throw error;
    }
  }

  async write<T = Record<string, unknown>>(
    path: string,
    body: unknown = {},
    req: Partial<VaultRequest> = {},
  ): Promise<Envelope<T> | undefined> {
    return (await this.transport.send<Envelope<T> | undefined>({ ...req, method: 'POST', path, body })).body;
  }

  /** Lists keys under a path; an empty list when there is nothing (Vault answers 404). */
  async list(path: string): Promise<string[]> {
    try {
      const res = await this.transport.send<Envelope<{ keys: string[] }>>({ method: 'LIST', path });
      return res.body.data.keys ?? [];
    } catch (error) {
      if (error instanceof NotFoundError) return [];
      throw error;
    }
  }

  async delete(path: string, req: Partial<VaultRequest> = {}): Promise<void> {
    await this.transport.send({ idempotent: true, ...req, method: 'DELETE', path });
  }

  kv(mount: string): KvV2 {
    return new KvV2(this, mount);
  }

  /**
   * The secrets mount that holds `path` (CLI form), found the way the Vault CLI finds it, so a KV
   * path like `kv/customers/acme` works whatever the mount's depth. Needs only access to the path.
   */
  async mountOf(
    path: string,
  ): Promise<{ mount: string; type: string; kvVersion: 1 | 2 | undefined; relative: string }> {
    const clean = trim(path);
    const res = await this.read<{ path: string; type: string; options: Record<string, string> | null }>(
      `sys/internal/ui/mounts/${clean}`,
    );
    const mount = trim(res.data.path);
    const version = res.data.options?.['version'];
    return {
      mount,
      type: res.data.type,
      kvVersion: res.data.type === 'kv' ? (version === '2' ? 2 : 1) : undefined,
      relative: trim(clean.slice(mount.length)),
    };
  }

  // ---- server identity ---------------------------------------------------------------------------

  /** Flavour and version of the server, read once from sys/seal-status (unauthenticated). */
  serverInfo(): Promise<ServerInfo> {
    this.info ??= this.sealStatus().then(parseServerInfo);
    // A failed lookup is not cached (the next call asks again); its awaiters get the error.
    this.info.catch(() => (this.info = undefined));
    return this.info;
  }

  async endpoints(): Promise<Endpoints> {
    return endpointsFor(await this.serverInfo());
  }

  // ---- health, seal, init ------------------------------------------------------------------------

  /** sys/health of one node: every documented status is an answer, not an error. */
  async health(node: string): Promise<HealthStatus> {
    const res = await this.transport.send<Omit<HealthStatus, 'node' | 'httpStatus'>>({
      method: 'GET',
      path: 'sys/health',
      node,
      token: null,
      acceptStatus: [429, 472, 473, 501, 503],
    });
    return { ...res.body, node, httpStatus: res.status };
  }

  async sealStatus(node?: string): Promise<SealStatus> {
    return (
      await this.transport.send<SealStatus>({ method: 'GET', path: 'sys/seal-status', node, token: null })
    ).body;
  }

  /** Seals the node it reaches (the active node unless `node` is given). */
  async seal(node?: string): Promise<void> {
    await this.transport.send({ method: 'POST', path: 'sys/seal', node, idempotent: true });
  }

  /** Submits one key share to one node; answers the node's seal status after it. */
  async unseal(node: string, key: string): Promise<SealStatus> {
    return (
      await this.transport.send<SealStatus>({
        method: 'POST',
        path: 'sys/unseal',
        node,
        body: { key },
        token: null,
      })
    ).body;
  }

  async unsealReset(node: string): Promise<SealStatus> {
    return (
      await this.transport.send<SealStatus>({
        method: 'POST',
        path: 'sys/unseal',
        node,
        body: { reset: true },
        token: null,
      })
    ).body;
  }

  async init(
    node: string,
    request: {
      secret_shares: number;
      secret_threshold: number;
      /** An auto-unsealed server (transit, static, KMIP…) takes recovery keys instead of unseal keys. */
      recovery_shares?: number;
      recovery_threshold?: number;
      pgp_keys?: string[];
      root_token_pgp_key?: string;
    },
  ): Promise<InitResponse> {
    return (
      await this.transport.send<InitResponse>({
        method: 'POST',
        path: 'sys/init',
        node,
        body: request,
        token: null,
      })
    ).body;
  }

  async leader(node?: string): Promise<LeaderStatus> {
    return (await this.transport.send<LeaderStatus>({ method: 'GET', path: 'sys/leader', node, token: null }))
      .body;
  }

  async stepDown(node?: string): Promise<void> {
    await this.transport.send({ method: 'PUT', path: 'sys/step-down', node });
  }

  // ---- raft --------------------------------------------------------------------------------------

  async raftConfiguration(node?: string): Promise<RaftConfiguration> {
    return (await this.read<RaftConfiguration>('sys/storage/raft/configuration', node ? { node } : {})).data;
  }

  async autopilotState(node?: string): Promise<AutopilotState> {
    return (await this.read<AutopilotState>('sys/storage/raft/autopilot/state', node ? { node } : {})).data;
  }

  async raftRemovePeer(serverId: string): Promise<void> {
    await this.write('sys/storage/raft/remove-peer', { server_id: serverId });
  }

  /** Asks `node` (unauthenticated while it is not part of a cluster) to join the leader. */
  async raftJoin(node: string, leaderApiAddr: string): Promise<{ joined: boolean }> {
    // OpenBao answers `{"joined": true}` without the usual `data` envelope.
    const res = await this.transport.send<{ joined?: boolean; data?: { joined: boolean } }>({
      method: 'POST',
      path: 'sys/storage/raft/join',
      node,
      body: { leader_api_addr: leaderApiAddr },
    });
    return { joined: res.body.data?.joined ?? res.body.joined ?? false };
  }

  /** The raft snapshot as a stream (gzip'd tar); the caller saves and checksums it. */
  async snapshot(): Promise<Readable> {
    return (
      await this.transport.send<Readable>({
        method: 'GET',
        path: 'sys/storage/raft/snapshot',
        responseType: 'stream',
        timeoutMs: 10 * 60_000,
      })
    ).body;
  }

  /** `node` and `token` target one node with its own token (a freshly initialised node before a restore). */
  async restoreSnapshot(
    data: Readable | Buffer,
    options: { force?: boolean; node?: string; token?: string } = {},
  ): Promise<void> {
    await this.transport.send({
      method: 'POST',
      path: options.force ? 'sys/storage/raft/snapshot-force' : 'sys/storage/raft/snapshot',
      rawBody: data,
      timeoutMs: 10 * 60_000,
      ...(options.node ? { node: options.node } : {}),
      ...(options.token ? { token: options.token } : {}),
    });
  }

  // ---- mounts, auth, policies, audit -----------------------------------------------------------------

  async listMounts(): Promise<Record<string, MountInfo>> {
    return (await this.read<Record<string, MountInfo>>('sys/mounts')).data;
  }

  async enableMount(
    path: string,
    config: { type: string; options?: Record<string, string>; description?: string },
  ) {
    await this.write(`sys/mounts/${trim(path)}`, config);
  }

  async disableMount(path: string): Promise<void> {
    await this.delete(`sys/mounts/${trim(path)}`);
  }

  async listAuthMounts(): Promise<Record<string, MountInfo>> {
    return (await this.read<Record<string, MountInfo>>('sys/auth')).data;
  }

  async enableAuth(
    path: string,
    config: { type: string; description?: string; config?: Record<string, unknown> },
  ) {
    await this.write(`sys/auth/${trim(path)}`, config);
  }

  async disableAuth(path: string): Promise<void> {
    await this.delete(`sys/auth/${trim(path)}`);
  }

  async listPolicies(): Promise<string[]> {
    return this.list('sys/policies/acl');
  }

  async readPolicy(name: string): Promise<string | undefined> {
    return (await this.readOptional<{ policy: string }>(`sys/policies/acl/${name}`))?.data.policy;
  }

  async writePolicy(name: string, policy: string): Promise<void> {
    await this.write(`sys/policies/acl/${name}`, { policy }, { idempotent: true });
  }

  async deletePolicy(name: string): Promise<void> {
    await this.delete(`sys/policies/acl/${name}`);
  }

  async listAuditDevices(): Promise<AuditDevice[]> {
    const data = (await this.read<Record<string, Omit<AuditDevice, 'path'>>>('sys/audit')).data;
    return Object.entries(data).map(([path, device]) => ({ ...device, path }));
  }

  /** Only works where the server allows API-created audit devices (Vault; OpenBao with the unsafe opt-in). */
  async enableAuditDevice(path: string, type: string, options: Record<string, string>): Promise<void> {
    await this.write(`sys/audit/${trim(path)}`, { type, options });
  }

  /** The HMAC the audit device `device` writes for `input`: `hmac-sha256:…`. */
  async auditHash(device: string, input: string): Promise<string> {
    const res = await this.write<{ hash: string }>(
      `sys/audit-hash/${trim(device)}`,
      { input },
      { idempotent: true },
    );
    return res!.data.hash;
  }

  // ---- leases ------------------------------------------------------------------------------------

  async leaseLookup(leaseId: string): Promise<LeaseInfo> {
    return (await this.write<LeaseInfo>('sys/leases/lookup', { lease_id: leaseId }, { idempotent: true }))!
      .data;
  }

  /** Lease ids (or sub-prefixes ending in /) under a prefix. */
  async leaseList(prefix: string): Promise<string[]> {
    return this.list(`sys/leases/lookup/${trim(prefix)}`);
  }

  async leaseRevoke(leaseId: string): Promise<void> {
    await this.write('sys/leases/revoke', { lease_id: leaseId }, { idempotent: true });
  }

  /** Revokes every lease (and token) issued under a prefix, e.g. `auth/approle/`. */
  async leaseRevokePrefix(prefix: string, options: { sync?: boolean } = {}): Promise<void> {
    await this.write(
      `sys/leases/revoke-prefix/${trim(prefix)}`,
      {},
      { idempotent: true, query: { sync: options.sync ?? true }, timeoutMs: 5 * 60_000 },
    );
  }

  /** Like revoke-prefix but ignores backend errors: the last resort, it may leave credentials live. */
  async leaseRevokeForce(prefix: string): Promise<void> {
    await this.write(
      `sys/leases/revoke-force/${trim(prefix)}`,
      {},
      { idempotent: true, timeoutMs: 5 * 60_000 },
    );
  }

  async leaseTidy(): Promise<void> {
    await this.write('sys/leases/tidy', {}, { idempotent: true });
  }

  // ---- tokens ------------------------------------------------------------------------------------

  async tokenCreate(
    request: TokenCreateRequest = {},
    options: { orphan?: boolean } = {},
  ): Promise<TokenAuth> {
    const path = options.orphan ? 'auth/token/create-orphan' : 'auth/token/create';
    return (await this.write(path, request))!.auth!;
  }

  async tokenLookupSelf(token?: string): Promise<TokenInfo> {
    return (await this.read<TokenInfo>('auth/token/lookup-self', token ? { token } : {})).data;
  }

  async tokenLookup(token: string): Promise<TokenInfo> {
    return (await this.write<TokenInfo>('auth/token/lookup', { token }, { idempotent: true }))!.data;
  }

  async tokenLookupAccessor(accessor: string): Promise<TokenInfo> {
    return (await this.write<TokenInfo>('auth/token/lookup-accessor', { accessor }, { idempotent: true }))!
      .data;
  }

  async tokenRevoke(token: string): Promise<void> {
    await this.write('auth/token/revoke', { token }, { idempotent: true });
  }

  async tokenRevokeAccessor(accessor: string): Promise<void> {
    await this.write('auth/token/revoke-accessor', { accessor }, { idempotent: true });
  }

  async tokenRevokeSelf(token?: string): Promise<void> {
    await this.write('auth/token/revoke-self', {}, { idempotent: true, ...(token ? { token } : {}) });
  }

  /** Accessors of every live token (needs sudo on auth/token/accessors). */
  async tokenListAccessors(): Promise<string[]> {
    return this.list('auth/token/accessors');
  }

  // ---- rekey, root token, keyring -------------------------------------------------------------------

  async rekeyStatus(target: 'unseal' | 'recovery' = 'unseal'): Promise<RekeyStatus> {
    const e = await this.endpoints();
    return unwrap(await this.transport.send<RekeyStatus | Envelope<RekeyStatus>>(e.rekey(target).status))
      .body;
  }

  async rekeyInit(request: RekeyInitRequest, target: 'unseal' | 'recovery' = 'unseal'): Promise<RekeyStatus> {
    const e = await this.endpoints();
    return unwrap(
      await this.transport.send<RekeyStatus | Envelope<RekeyStatus>>(e.rekey(target).init(request)),
    ).body;
  }

  /** Submits one current share; the last one returns the new shares. */
  async rekeyUpdate(
    key: string,
    nonce: string,
    target: 'unseal' | 'recovery' = 'unseal',
  ): Promise<RekeyUpdateResult> {
    const e = await this.endpoints();
    return unwrap(
      await this.transport.send<RekeyUpdateResult | Envelope<RekeyUpdateResult>>(
        e.rekey(target).update(key, nonce),
      ),
    ).body;
  }

  async rekeyCancel(target: 'unseal' | 'recovery' = 'unseal'): Promise<void> {
    const e = await this.endpoints();
    await this.transport.send(e.rekey(target).cancel);
  }

  /** `via: 'unauthenticated'`: sys/generate-root/* without a token (see Endpoints.unauthenticatedGenerateRoot). */
  async generateRootStatus(via: GenerateRootVia = 'default'): Promise<GenerateRootStatus> {
    const e = await this.generateRootEndpoints(via);
    return unwrap(await this.transport.send<GenerateRootStatus | Envelope<GenerateRootStatus>>(e.status))
      .body;
  }

  async generateRootInit(
    options: { pgp_key?: string } = {},
    via: GenerateRootVia = 'default',
  ): Promise<GenerateRootStatus> {
    const e = await this.generateRootEndpoints(via);
    return unwrap(
      await this.transport.send<GenerateRootStatus | Envelope<GenerateRootStatus>>(e.init(options)),
    ).body;
  }

  async generateRootUpdate(
    key: string,
    nonce: string,
    via: GenerateRootVia = 'default',
  ): Promise<GenerateRootStatus> {
    const e = await this.generateRootEndpoints(via);
    return unwrap(
      await this.transport.send<GenerateRootStatus | Envelope<GenerateRootStatus>>(e.update(key, nonce)),
    ).body;
  }

  async generateRootCancel(via: GenerateRootVia = 'default'): Promise<void> {
    const e = await this.generateRootEndpoints(via);
    await this.transport.send(e.cancel);
  }

  private async generateRootEndpoints(via: GenerateRootVia) {
    const e = await this.endpoints();
    return via === 'unauthenticated' ? e.unauthenticatedGenerateRoot : e.generateRoot;
  }

  /**
   * Whether the listener this client reaches serves one of the unauthenticated rekey or
   * generate-root endpoints, asked without a token by a GET of its status, which starts and cancels
   * nothing. OpenBao answers 405 "unsupported operation" (404 for sys/rekey-recovery-key) on a
   * listener that does not serve it; any other answer (200 with the attempt's status, 400 "recovery
   * rekeying not supported") means the handler is there.
   */
  async unauthenticatedEndpointServed(
    path: 'sys/rekey/init' | 'sys/rekey-recovery-key/init' | 'sys/generate-root/attempt',
    node?: string,
  ): Promise<{ served: boolean; httpStatus: number }> {
    const res = await this.transport.send({
      method: 'GET',
      path,
      node,
      token: null,
      acceptStatus: [400, 404, 405],
    });
    return { served: res.status !== 404 && res.status !== 405, httpStatus: res.status };
  }

  /** Rotates the barrier encryption key (the keyring term goes up by one). */
  async rotateKeyring(): Promise<void> {
    const e = await this.endpoints();
    await this.transport.send({ method: 'POST', path: e.rotateKeyring });
  }

  async keyStatus(): Promise<KeyStatus> {
    const res = await this.transport.send<KeyStatus & Partial<Envelope<KeyStatus>>>({
      method: 'GET',
      path: 'sys/key-status',
    });
    return res.body.data ?? res.body;
  }

  // ---- metrics -----------------------------------------------------------------------------------

  /** Prometheus text from one node (or the preferred one). */
  async metricsPrometheus(node?: string): Promise<string> {
    return (
      await this.transport.send<string>({
        method: 'GET',
        path: 'sys/metrics',
        query: { format: 'prometheus' },
        node,
        responseType: 'text',
      })
    ).body;
  }

  async metricsJson(node?: string): Promise<Record<string, unknown>> {
    return (await this.transport.send<Record<string, unknown>>({ method: 'GET', path: 'sys/metrics', node }))
      .body;
  }
}

/** Some sys endpoints answer with the fields at the top level, others in an envelope. */
function unwrap<T extends object>(res: { body: T | Envelope<T>; status: number; node: string }) {
  const body = res.body as Partial<Envelope<T>> & T;
  return {
    ...res,
    body: body && typeof body === 'object' && 'data' in body && body.data ? body.data : body,
  };
}

const trim = (path: string) => path.replace(/^\/+|\/+$/g, '');
