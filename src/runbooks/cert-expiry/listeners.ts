import type { Finding } from '../finding.js';
import { expirySeverity, WARN_DAYS } from './certificate.js';
import {
  listenerKey,
  listenerOfAddress,
  parseListener,
  probeTls,
  type ListenerAddress,
  type TlsProbe,
} from './tls-probe.js';

/** A listener to handshake with, and the node name its findings carry. */
export interface ListenerTarget {
  listener: ListenerAddress;
  /** The configured API address, or host:port for a listener given with --listener (a cluster port). */
  node: string;
}

/** The configured https:// addresses, then the extra --listener ones, each once. */
export function listenerTargets(addresses: readonly string[], extra: readonly string[]): ListenerTarget[] {
  const byKey = new Map<string, ListenerTarget>();
  for (const address of addresses) {
    const listener = listenerOfAddress(address);
    if (listener) byKey.set(listenerKey(listener), { listener, node: address });
  }
  for (const value of extra) {
    const listener = parseListener(value);
    if (listener && !byKey.has(listenerKey(listener)))
      byKey.set(listenerKey(listener), { listener, node: listenerKey(listener) });
  }
  return [...byKey.values()];
}

/** The command that renews a listener's certificate, for suggested steps. */
export const RENEW_HINT = (listener: string) =>
  `sealwatch runbook run cert-expiry --listener ${listener} --pki-mount M --pki-role R --cert-file F --key-file K (--reload-pid PID or --reload-command CMD; a lab's node is found by its config)`;

function evidenceOf(key: string, probe: TlsProbe): Record<string, unknown> {
  const leaf = probe.leaf;
  return {
    listener: key,
    subject: leaf.subject,
    ...(leaf.common_name ? { common_name: leaf.common_name } : {}),
    issuer: leaf.issuer,
    sans: leaf.sans,
    serial: leaf.serial,
    not_before: leaf.not_before,
    not_after: leaf.not_after,
    days_left: leaf.days_left,
    fingerprint_sha256: leaf.fingerprint_sha256,
    chain_length: probe.chain.length,
    chain: probe.chain,
    verifies: probe.verifies,
    ...(probe.verify_error ? { verify_error: probe.verify_error } : {}),
    verified_against: probe.verified_against,
    hostname_matches: probe.hostname_matches,
    protocol: probe.protocol,
    ...(probe.handshake_error ? { handshake_error: probe.handshake_error } : {}),
  };
}

/** What one listener's handshake says, as one finding. */
export function listenerFinding(
  target: ListenerTarget,
  result: Awaited<ReturnType<typeof probeTls>>,
  now: Date,
): Finding {
  const key = listenerKey(target.listener);
  if (!result.ok)
    return {
      id: 'listener-tls-failed',
      // A TLS server that answers with an alert is up; only its certificate cannot be read from here.
      severity: result.reason === 'tls-alert' ? 'low' : 'high',
      symptom: `${key}: ${result.error}`,
      evidence: { listener: key, reason: result.reason, error: result.error },
      node: target.node,
      suggested_step:
        result.reason === 'not-tls'
          ? `${key} does not serve TLS: check that it is the TLS listener (tls_disable, the port) or drop it from --listener`
          : result.reason === 'tls-alert'
            ? `check ${key} from a client it accepts, or give the active node's cluster port instead of a standby's`
            : `check the process and the listener on ${key} (is it up, is the port filtered?)`,
    };
  const probe = result.probe;
  const evidence = evidenceOf(key, probe);
  if (new Date(probe.leaf.not_before) > now)
    return {
      id: 'listener-cert-not-yet-valid',
      severity: 'high',
      symptom: `${key} serves a certificate that is not valid before ${probe.leaf.not_before} (clock skew or a wrong certificate)`,
      evidence,
      node: target.node,
      suggested_step: `check the host clock, then ${RENEW_HINT(key)}`,
    };
  // An intermediate that expires before the leaf breaks the chain first.
  const first = probe.chain.reduce((a, b) => (b.days_left < a.days_left ? b : a));
  const days = first.days_left;
  const which =
    first.fingerprint_sha256 === probe.leaf.fingerprint_sha256 ? '' : ` (chain certificate ${first.subject})`;
  if (which) evidence['expires_first'] = first.subject;
  const severity = expirySeverity(days);
  if (severity === 'info')
    return {
      id: 'listener-cert-ok',
      severity,
      symptom: `${key} serves ${probe.leaf.subject}, valid for ${days} more days (until ${first.not_after})`,
      evidence,
      node: target.node,
      suggested_step: `nothing to do; renew before ${WARN_DAYS} days are left`,
    };
  return {
    id: days <= 0 ? 'listener-cert-expired' : 'listener-cert-expires-soon',
    severity,
    symptom:
      days <= 0
        ? `${key} serves a certificate that expired on ${first.not_after}${which}: clients that verify refuse it`
        : `${key} serves a certificate that expires in ${days} days (${first.not_after})${which}`,
    evidence,
    node: target.node,
    suggested_step: RENEW_HINT(key),
  };
}

/** Handshakes with every listener at once; each answers within `timeoutMs` whatever it does. */
export async function diagnoseListeners(
  targets: readonly ListenerTarget[],
  options: { timeoutMs: number; caPem?: string; caLabel?: string; now: Date },
): Promise<Finding[]> {
  return Promise.all(
    targets.map(async (target) =>
      listenerFinding(
        target,
        await probeTls(target.listener, {
          timeoutMs: options.timeoutMs,
          ...(options.caPem !== undefined ? { caPem: options.caPem } : {}),
          ...(options.caLabel ? { caLabel: options.caLabel } : {}),
        }),
        options.now,
      ),
    ),
  );
}

/** The listener findings a renewal fixes: expiring, expired or not yet valid. */
export function isRenewable(finding: Finding): boolean {
  return finding.id.startsWith('listener-cert-') && finding.severity !== 'info';
}
