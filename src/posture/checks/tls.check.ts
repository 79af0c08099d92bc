import { isIP } from 'node:net';
import type { PostureCheck, PostureContext, PostureFinding } from '../check.js';
import { sanitizedConfigFor, type SanitizedConfig } from '../server-config.js';
import { probeLegacyTls } from '../tls-legacy-probe.js';
import { RENEW_HINT } from '../../runbooks/cert-expiry/listeners.js';
import {
  listenerKey,
  listenerOfAddress,
  parseListener,
  probeTls,
  type ListenerAddress,
} from '../../runbooks/cert-expiry/tls-probe.js';

const check = { id: 'tls', area: 'tls' } as const;
const raised = { check: check.id, area: check.area } as const;

/** `tls_min_version` values below TLS 1.2 (OpenBao's default is tls12). */
const LEGACY_MIN_VERSIONS = new Set(['tls10', 'tls11']);

/** A handshake that takes longer than this is a listener that hangs. */
const PROBE_TIMEOUT_MS = 5_000;

const DAY_MS = 86_400_000;

/**
 * The listeners: plain HTTP on an address other hosts can reach (high), `tls_min_version` below
 * TLS 1.2 in the configuration, or a listener that completes a handshake offering only TLS 1.0/1.1
 * (high), and certificates near expiry (the cert-expiry runbook's probe; `posture.tls_cert_warn`
 * medium, `posture.tls_cert_high` high, expired critical). The TLS listeners probed are those of
 * the running configuration (`0.0.0.0` and `::` reached at the API address's host) and the
 * https:// addresses sealwatch is configured with.
 */
export const tlsCheck: PostureCheck = {
  ...check,
  title: 'listeners without TLS, below TLS 1.2, or with certificates near expiry',
  async run(ctx) {
    const read = await sanitizedConfigFor(ctx, check, 'the listeners of the server configuration');
    const findings: PostureFinding[] = [];
    const targets = new Map<
      string,
      { listener: ListenerAddress; configured?: string; minVersion?: string }
    >();
    if ('refused' in read) findings.push(read.refused);
    else {
      findings.push(...plainListenerFindings(read.config));
      for (const l of tlsListeners(read.config, ctx)) targets.set(listenerKey(l.listener), l);
    }
    for (const address of ctx.vault.addresses) {
      const listener = listenerOfAddress(address);
      if (listener && !targets.has(listenerKey(listener))) targets.set(listenerKey(listener), { listener });
    }
    const probed = await Promise.all(
      [...targets.entries()]
        .sort(([a], [b]) => a.localeCompare(b))
        .map(([key, t]) => probeFindings(ctx, key, t)),
    );
    return [...findings, ...probed.flat()];
  },
};

function plainListenerFindings(config: SanitizedConfig): PostureFinding[] {
  const findings: PostureFinding[] = [];
  for (const listener of config.listeners ?? []) {
    if (listener.type !== 'tcp') continue;
    const settings = listener.config ?? {};
    const address = addressOf(settings);
    if (!isTrue(settings['tls_disable']) || isLoopback(address)) continue;
    findings.push({
      id: `tls:disabled:${address}`,
      ...raised,
      severity: 'high',
      title: `listener ${address} serves the API without TLS`,
      evidence: { address, tls_disable: settings['tls_disable'] },
      why: 'tokens, unseal keys and secrets cross the network in clear: anyone on the path reads them',
      fix: `listener "tcp" {\n  address       = "${address}"\n  tls_cert_file = "/etc/openbao/tls/server.crt"\n  tls_key_file  = "/etc/openbao/tls/server.key"\n  tls_min_version = "tls12"\n}`,
    });
  }
  return findings;
}

/** The TLS listeners of the configuration, each with the address to dial it at. */
function tlsListeners(
  config: SanitizedConfig,
  ctx: PostureContext,
): { listener: ListenerAddress; configured: string; minVersion?: string }[] {
  const apiHost = ctx.vault.addresses[0]
    ? new URL(ctx.vault.addresses[0]).hostname.replace(/^\[|\]$/g, '')
    : '127.0.0.1';
  const out: { listener: ListenerAddress; configured: string; minVersion?: string }[] = [];
  for (const listener of config.listeners ?? []) {
    if (listener.type !== 'tcp') continue;
    const settings = listener.config ?? {};
    if (isTrue(settings['tls_disable'])) continue;
    const configured = addressOf(settings);
    const parsed = parseListener(configured);
    if (!parsed) continue;
    const host = ['0.0.0.0', '::', ''].includes(parsed.host) ? apiHost : parsed.host;
    const minVersion = settings['tls_min_version'];
    out.push({
      listener: { host, port: parsed.port },
      configured,
      ...(typeof minVersion === 'string' ? { minVersion } : {}),
    });
  }
  return out;
}

async function probeFindings(
  ctx: PostureContext,
  key: string,
  target: { listener: ListenerAddress; configured?: string; minVersion?: string },
): Promise<PostureFinding[]> {
  const timeoutMs = Math.min(ctx.config.vault.timeoutMs, PROBE_TIMEOUT_MS);
  const [probe, legacy] = await Promise.all([
    probeTls(target.listener, { timeoutMs }),
    probeLegacyTls(target.listener, timeoutMs),
  ]);
  const findings: PostureFinding[] = [];
  const where =
    target.configured && target.configured !== key ? `${key} (configured ${target.configured})` : key;
  const configuredLegacy = target.minVersion !== undefined && LEGACY_MIN_VERSIONS.has(target.minVersion);
  if (configuredLegacy || legacy.accepted === true)
    findings.push({
      id: `tls:legacy-version:${key}`,
      ...raised,
      severity: 'high',
      title: `listener ${where} ${legacy.accepted === true ? `accepts ${legacy.protocol}` : `is configured with tls_min_version = "${target.minVersion}"`}: below TLS 1.2`,
      evidence: {
        listener: key,
        ...(target.configured ? { configured_address: target.configured } : {}),
        tls_min_version: target.minVersion ?? null,
        legacy_handshake:
          legacy.accepted === true
            ? legacy.protocol
            : legacy.accepted === false
              ? 'refused'
              : `not probed: ${legacy.error}`,
      },
      why: 'TLS 1.0 and 1.1 rely on broken hashes and CBC constructions; a client talked down to them can have tokens and secrets recovered',
      fix: `listener "tcp" {\n  address         = "${target.configured ?? key}"\n  tls_min_version = "tls12"\n}  # then restart the server (listeners are read at start)`,
    });
  if (!probe.ok) {
    findings.push({
      id: `tls:could-not-probe:${key}`,
      ...raised,
      severity: 'medium',
      title: `could not read the certificate of listener ${where}: ${probe.error}`,
      evidence: { listener: key, reason: probe.reason, error: probe.error },
      why: 'a certificate that was not looked at has not been shown to be valid for long enough',
      fix: `openssl s_client -connect ${key} </dev/null  # from where sealwatch runs; allow it through or fix the listener`,
    });
    return findings;
  }
  const leaf = probe.probe.leaf;
  const msLeft = new Date(leaf.not_after).getTime() - ctx.now.getTime();
  const { tlsCertWarnMs, tlsCertHighMs } = ctx.config.posture;
  if (msLeft <= tlsCertWarnMs)
    findings.push({
      id: `tls:cert-expiry:${key}`,
      ...raised,
      severity: msLeft <= 0 ? 'critical' : msLeft <= tlsCertHighMs ? 'high' : 'medium',
      title:
        msLeft <= 0
          ? `the certificate of listener ${where} expired at ${leaf.not_after}`
          : `the certificate of listener ${where} expires in ${Math.round((msLeft / DAY_MS) * 10) / 10} days (${leaf.not_after})`,
      evidence: {
        listener: key,
        subject: leaf.subject,
        issuer: leaf.issuer,
        not_after: leaf.not_after,
        days_left: Math.round((msLeft / DAY_MS) * 10) / 10,
        fingerprint_sha256: leaf.fingerprint_sha256,
        warn_within_days: tlsCertWarnMs / DAY_MS,
        high_within_days: tlsCertHighMs / DAY_MS,
      },
      why: 'when the certificate expires every client refuses the listener: an outage, and an invitation to turn verification off',
      fix: RENEW_HINT(key),
    });
  return findings;
}

const addressOf = (settings: Record<string, unknown>) =>
  typeof settings['address'] === 'string' ? settings['address'] : '127.0.0.1:8200';

/** The configuration parser keeps `tls_disable` as written: true, "true", 1 or "1". */
const isTrue = (value: unknown) => value === true || value === 1 || value === 'true' || value === '1';

/** Whether `host:port` (or `[v6]:port`) binds to loopback only; 0.0.0.0, :: and names are reachable. */
export function isLoopback(address: string): boolean {
  const host = address.startsWith('[')
    ? address.slice(1, address.indexOf(']'))
    : address.replace(/:\d+$/, '');
  if (host === 'localhost') return true;
  if (isIP(host) === 4) return host.startsWith('127.');
  if (isIP(host) === 6) return host === '::1';
  return false;
}
