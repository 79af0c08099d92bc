import { parseServerInfo } from '../../vault/server-info.js';
import { VaultError } from '../../vault/errors.js';
import type { ServerInfo } from '../../vault/types.js';
import type { PostureCheck, PostureContext, PostureFinding } from '../check.js';
import { sanitizedConfigFor } from '../server-config.js';

const check = { id: 'unauthed-endpoints', area: 'seal' } as const;
const raised = { check: check.id, area: check.area } as const;

/**
 * The two families of endpoints that take key shares without a token. OpenBao serves them only on a
 * `tcp` listener whose setting is false: `disable_unauthed_rekey_endpoints` defaults to true since
 * 2.5.0, `disable_unauthed_generate_root_endpoints` since 2.5.3 (CVE-2026-5807); earlier versions
 * serve them unless the setting is true, and so does HashiCorp Vault here (not tested against it).
 */
const KINDS = ['rekey', 'generate-root'] as const;
type Kind = (typeof KINDS)[number];

const ENDPOINTS = {
  rekey: {
    setting: 'disable_unauthed_rekey_endpoints',
    paths: 'sys/rekey/* and sys/rekey-recovery-key/*',
    probe: 'sys/rekey/init',
    closedSince: [2, 5, 0],
    authenticated: 'sys/rotate/root/* and sys/rotate/recovery/*',
  },
  'generate-root': {
    setting: 'disable_unauthed_generate_root_endpoints',
    paths: 'sys/generate-root/*',
    probe: 'sys/generate-root/attempt',
    closedSince: [2, 5, 3],
    authenticated: 'sys/generate-root-token/*',
  },
} as const satisfies Record<Kind, unknown>;

/** Listeners that serve the unauthenticated rekey or generate-root endpoints. */
export const unauthedEndpointsCheck: PostureCheck = {
  ...check,
  title: 'unauthenticated rekey and generate-root endpoints',
  async run(ctx) {
    const status = await ctx.vault.sealStatus();
    const server = parseServerInfo(status);
    const [read, probes] = await Promise.all([
      sanitizedConfigFor(ctx, check, 'the listeners of the server configuration'),
      probeAll(ctx),
    ]);
    const findings: PostureFinding[] = [];
    const fromConfig = new Set<Kind>();
    if ('refused' in read) findings.push(read.refused);
    else
      for (const listener of read.config.listeners ?? []) {
        if (listener.type !== 'tcp') continue;
        const settings = listener.config ?? {};
        const address = typeof settings['address'] === 'string' ? settings['address'] : '127.0.0.1:8200';
        for (const kind of KINDS) {
          const { setting } = ENDPOINTS[kind];
          const configured = settings[setting];
          if (!served(kind, configured, server)) continue;
          fromConfig.add(kind);
          findings.push(
            finding(kind, address, {
              listener: address,
              setting,
              configured: configured ?? null,
              version: server.version,
              probe: probes[kind],
            }),
          );
        }
      }
    // The listener sealwatch talks to answers although no configured listener should (another front end, or HashiCorp Vault).
    for (const kind of KINDS) {
      const probe = probes[kind];
      if (fromConfig.has(kind) || !('served' in probe) || !probe.served) continue;
      findings.push(
        finding(kind, probe.addr, {
          listener: probe.addr,
          version: server.version,
          flavor: server.flavor,
          ...(!('refused' in read) && {
            // Seen on OpenBao 2.7.2: a SIGHUP reload shows the new setting here but keeps the old handlers.
            note: `the running configuration does not serve them on any listener, yet ${probe.addr} does: a listener changed by a reload keeps its handlers until the server restarts (or a proxy in front serves another listener)`,
          }),
          probe,
        }),
      );
    }
    return findings;
  },
};

type Probe =
  | { addr: string; path: string; served: boolean; http_status: number }
  | { addr: string; path: string; error: string };

/** GETs the status of each family without a token (starts and cancels nothing). */
async function probeAll(ctx: PostureContext): Promise<Record<Kind, Probe>> {
  const addr = ctx.vault.addresses[0] ?? '';
  const probe = async (kind: Kind): Promise<Probe> => {
    const path = ENDPOINTS[kind].probe;
    try {
      const { served, httpStatus } = await ctx.vault.unauthenticatedEndpointServed(path, addr);
      return { addr, path, served, http_status: httpStatus };
    } catch (error) {
      // The configuration decides; a probe that failed (sealed, timeout) is kept as evidence only.
      if (!(error instanceof VaultError)) throw error;
      return { addr, path, error: error.message };
    }
  };
  const [rekey, generateRoot] = await Promise.all([probe('rekey'), probe('generate-root')]);
  return { rekey, 'generate-root': generateRoot };
}

/** Whether a listener with this setting serves the family, on this server's version and defaults. */
export function served(kind: Kind, configured: unknown, server: ServerInfo): boolean {
  const disabled = parseBool(configured);
  if (disabled !== undefined) return !disabled;
  if (server.flavor === 'vault') return true;
  const [major, minor, patch] = ENDPOINTS[kind].closedSince;
  const closedByDefault =
    server.major !== major
      ? server.major > major
      : server.minor !== minor
        ? server.minor > minor
        : server.patch >= patch;
  return !closedByDefault;
}

/** Go's strconv.ParseBool, which OpenBao's configuration parser applies to these settings. */
function parseBool(value: unknown): boolean | undefined {
  if (typeof value === 'boolean') return value;
  if (typeof value === 'number') return value !== 0;
  if (typeof value !== 'string') return undefined;
  if (['1', 't', 'T', 'TRUE', 'true', 'True'].includes(value)) return true;
  if (['0', 'f', 'F', 'FALSE', 'false', 'False'].includes(value)) return false;
  return undefined;
}

function finding(kind: Kind, listener: string, evidence: Record<string, unknown>): PostureFinding {
  const e = ENDPOINTS[kind];
  const vault = evidence['flavor'] === 'vault';
  return {
    id: `${check.id}:${kind}:${listener}`,
    ...raised,
    severity: 'medium',
    title: `listener ${listener} serves the unauthenticated ${e.paths} endpoints`,
    evidence,
    why:
      kind === 'rekey'
        ? 'anyone who reaches the listener can read, start or cancel a rekey without a token: an attacker can keep cancelling the rekey a breach response depends on; the authenticated endpoints need a policy and are audited'
        : 'anyone who reaches the listener can read or cancel a root token generation without a token (CVE-2026-5807): an attacker can block the recovery of a root token during an incident; the authenticated endpoints need a policy and are audited',
    fix: vault
      ? `let only the key holders' network reach ${e.paths} (block them for clients at the load balancer), or set ${e.setting} = true on the listener where the server knows the setting`
      : `listener "tcp" {\n  address = "${listener}"\n  ${e.setting} = true\n}\n# then restart the server (the handlers are set when the listener starts); key holders use ${e.authenticated} with a token`,
  };
}
