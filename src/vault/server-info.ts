import type { VaultRequest } from './transport.js';
import type { RekeyInitRequest, SealStatus, ServerFlavor, ServerInfo } from './types.js';

/**
 * Which server is this? OpenBao reports `commit_date` in sys/seal-status and HashiCorp Vault
 * `build_date`; OpenBao's versions are 2.x. SEALWATCH_SERVER_FLAVOR overrides the guess.
 */
export function parseServerInfo(
  status: Pick<SealStatus, 'version' | 'build_date' | 'commit_date'>,
): ServerInfo {
  const [major = 0, minor = 0, patch = 0] = (status.version.match(/\d+/g) ?? []).map(Number);
  const override = process.env['SEALWATCH_SERVER_FLAVOR'];
  let flavor: ServerFlavor;
  if (override === 'openbao' || override === 'vault') flavor = override;
  else if (status.commit_date !== undefined && status.build_date === undefined) flavor = 'openbao';
  else if (status.build_date !== undefined) flavor = 'vault';
  else flavor = major >= 2 ? 'openbao' : 'vault';
  return { flavor, version: status.version, major, minor, patch };
}

const atLeast = (info: ServerInfo, major: number, minor: number) =>
  info.major > major || (info.major === major && info.minor >= minor);

type RekeyTarget = 'unseal' | 'recovery';

export interface GenerateRootEndpoints {
  status: VaultRequest;
  init(options: { pgp_key?: string }): VaultRequest;
  update(key: string, nonce: string): VaultRequest;
  cancel: VaultRequest;
}

function generateRootEndpoints(base: string, auth: Pick<VaultRequest, 'token'>): GenerateRootEndpoints {
  return {
    status: { method: 'GET', path: `${base}/attempt`, ...auth },
    init: (options) => ({ method: 'POST', path: `${base}/attempt`, body: options, ...auth }),
    update: (key, nonce) => ({ method: 'POST', path: `${base}/update`, body: { key, nonce }, ...auth }),
    cancel: { method: 'DELETE', path: `${base}/attempt`, idempotent: true, ...auth },
  };
}

export interface Endpoints {
  rekey(target: RekeyTarget): {
    status: VaultRequest;
    init(request: RekeyInitRequest): VaultRequest;
    update(key: string, nonce: string): VaultRequest;
    cancel: VaultRequest;
  };
  generateRoot: GenerateRootEndpoints;
  /**
   * `sys/generate-root/*` without a token, on every version: the one way to a token on a cluster
   * restored from a snapshot, where nobody holds one. OpenBao 2.5.3+ answers it only on a listener
   * configured with `disable_unauthed_generate_root_endpoints = false` (sealwatch's throwaway restore
   * server is).
   */
  unauthenticatedGenerateRoot: GenerateRootEndpoints;
  rotateKeyring: string;
  /** True when the endpoints above need a token (OpenBao's authenticated variants). */
  authenticatedRekey: boolean;
  authenticatedGenerateRoot: boolean;
}

/**
 * OpenBao 2.4 added authenticated key rotation (`sys/rotate/root|recovery/*`) and 2.5 turned the
 * unauthenticated `sys/rekey/*` off by default; 2.6 added `sys/generate-root-token/*` and 2.5.3
 * turned `sys/generate-root/*` off. HashiCorp Vault keeps `sys/rekey/*` and `sys/generate-root/*`.
 */
export function endpointsFor(info: ServerInfo): Endpoints {
  const openbao = info.flavor === 'openbao';
  const authenticatedRekey = openbao && atLeast(info, 2, 4);
  const authenticatedGenerateRoot = openbao && atLeast(info, 2, 6);
  const rekeyBase = (target: RekeyTarget) =>
    authenticatedRekey
      ? `sys/rotate/${target === 'unseal' ? 'root' : 'recovery'}`
      : target === 'unseal'
        ? 'sys/rekey'
        : 'sys/rekey-recovery-key';
  const tokenFor = (authenticated: boolean): Pick<VaultRequest, 'token'> =>
    authenticated ? {} : { token: null };
  const rootBase = authenticatedGenerateRoot ? 'sys/generate-root-token' : 'sys/generate-root';
  const rootToken = tokenFor(authenticatedGenerateRoot);
  return {
    rekey(target) {
      const base = rekeyBase(target);
      const auth = tokenFor(authenticatedRekey);
      return {
        status: { method: 'GET', path: `${base}/init`, ...auth },
        init: (request) => ({ method: 'POST', path: `${base}/init`, body: request, ...auth }),
        update: (key, nonce) => ({ method: 'POST', path: `${base}/update`, body: { key, nonce }, ...auth }),
        cancel: { method: 'DELETE', path: `${base}/init`, idempotent: true, ...auth },
      };
    },
    generateRoot: generateRootEndpoints(rootBase, rootToken),
    unauthenticatedGenerateRoot: generateRootEndpoints('sys/generate-root', { token: null }),
    rotateKeyring: openbao ? 'sys/rotate/keyring' : 'sys/rotate',
    authenticatedRekey,
    authenticatedGenerateRoot,
  };
}

/**
 * Decodes the root token of a completed generate-root attempt: base64 of the token XOR'd with the
 * one-time password handed out when the attempt started.
 */
export function decodeRootToken(encoded: string, otp: string): string {
  const raw = Buffer.from(encoded, 'base64');
  const pad = Buffer.from(otp, 'utf8');
  if (raw.length !== pad.length)
    throw new Error(`encoded root token has ${raw.length} bytes but the one-time password ${pad.length}`);
  const out = Buffer.alloc(raw.length);
  for (let i = 0; i < raw.length; i++) out[i] = raw[i]! ^ pad[i]!;
  return out.toString('utf8');
}
