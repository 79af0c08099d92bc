import { X509Certificate } from 'node:crypto';
import { isIP } from 'node:net';
import {
  checkServerIdentity,
  connect,
  rootCertificates,
  type ConnectionOptions,
  type PeerCertificate,
  type TLSSocket,
} from 'node:tls';
import { parsePemCertificates, summarize, type CertificateSummary } from './certificate.js';
import { errorMessage } from '../../errors.js';

/** host:port of a TLS listener; IPv6 hosts in brackets (`[::1]:8200`). */
export interface ListenerAddress {
  host: string;
  port: number;
}

export const listenerKey = (l: ListenerAddress) =>
  `${l.host.includes(':') ? `[${l.host}]` : l.host}:${l.port}`;

export function parseListener(value: string): ListenerAddress | undefined {
  const match = /^(?:\[([^\]]+)\]|([^:/\s]+)):(\d{1,5})$/.exec(value.trim());
  if (!match) return undefined;
  const port = Number(match[3]);
  if (port < 1 || port > 65_535) return undefined;
  return { host: (match[1] ?? match[2])!, port };
}

/** The listener of an https:// API address; undefined for http://. */
export function listenerOfAddress(address: string): ListenerAddress | undefined {
  const url = new URL(address);
  if (url.protocol !== 'https:') return undefined;
  return { host: url.hostname.replace(/^\[|\]$/g, ''), port: Number(url.port || 443) };
}

export interface ChainEntry extends Pick<
  CertificateSummary,
  'subject' | 'issuer' | 'not_after' | 'days_left' | 'fingerprint_sha256'
> {
  /** The same certificate is in the trust store used (CA file or system roots): Node may add it there. */
  in_trust_store: boolean;
}

export interface TlsProbe {
  leaf: CertificateSummary;
  /** Leaf first, then each issuer as the handshake resolved it. */
  chain: ChainEntry[];
  /** The chain verifies against the trust store used (the CA file, else the system roots). */
  verifies: boolean;
  verify_error?: string;
  verified_against: string;
  /** The certificate names the host that was dialled. */
  hostname_matches: boolean;
  protocol: string | null;
  /**
   * The handshake failed after the certificate arrived (a listener that requires a client
   * certificate, over TLS 1.2): the certificate is still read, and the failure kept as evidence.
   */
  handshake_error?: string;
}

export type TlsProbeResult =
  | { ok: true; probe: TlsProbe }
  | { ok: false; reason: 'timeout' | 'refused' | 'not-tls' | 'tls-alert' | 'tls-error'; error: string };

/**
 * The cluster port (OpenBao request forwarding) only completes a handshake for its own ALPN
 * protocols; API listeners pick http/1.1. Offering both lets one probe read either.
 */
const ALPN = ['http/1.1', 'req_fw_sb-act_v1'];

let systemRoots: Set<string> | undefined;
function rootFingerprints(caPem: string | undefined): Set<string> {
  if (caPem !== undefined) return new Set(parsePemCertificates(caPem).map((c) => c.fingerprint256));
  systemRoots ??= new Set(rootCertificates.map((pem) => new X509Certificate(pem).fingerprint256));
  return systemRoots;
}

function chainOf(peer: PeerCertificate & { issuerCertificate?: PeerCertificate }): X509Certificate[] {
  const chain: X509Certificate[] = [];
  const seen = new Set<PeerCertificate>();
  let current: (PeerCertificate & { issuerCertificate?: PeerCertificate }) | undefined = peer;
  while (current?.raw && !seen.has(current)) {
    seen.add(current);
    chain.push(new X509Certificate(current.raw));
    current = current.issuerCertificate;
  }
  return chain;
}

function classify(error: NodeJS.ErrnoException): {
  reason: 'refused' | 'not-tls' | 'tls-alert' | 'tls-error';
  error: string;
} {
  const text = error.message.split('\n')[0] ?? String(error);
  if (error.code === 'ECONNREFUSED') return { reason: 'refused', error: 'connection refused' };
  if (
    error.code === 'ERR_SSL_WRONG_VERSION_NUMBER' ||
    error.code === 'ERR_SSL_PACKET_LENGTH_TOO_LONG' ||
    error.code === 'ERR_SSL_HTTP_REQUEST' ||
    /wrong version number|packet length too long|http request/i.test(text)
  )
    return {
      reason: 'not-tls',
      error: `not TLS: the peer answered with something else (${error.code ?? text})`,
    };
  if (error.code === 'ECONNRESET' || /socket disconnected|socket hang up/i.test(text))
    return {
      reason: 'not-tls',
      error: `the peer closed the connection during the TLS handshake (${error.code ?? text})`,
    };
  const alert = /^ERR_SSL_(?:TLSV1|TLSV13|SSLV3)_ALERT_(.+)$/.exec(error.code ?? '');
  if (alert)
    return {
      reason: 'tls-alert',
      error: `the listener refused the TLS handshake (alert: ${alert[1]!.toLowerCase().replaceAll('_', ' ')}): it serves no certificate to this client${alert[1] === 'INTERNAL_ERROR' ? ' — an OpenBao cluster port on a standby node answers only its raft peers' : ''}`,
    };
  const short = text.replace(/^[0-9A-F]+:error:[0-9A-F]+:/, '').replace(/:\.\.\/.*$/, '');
  return { reason: 'tls-error', error: `TLS handshake failed: ${error.code ?? ''} ${short}`.trim() };
}

/** What the socket holds of the peer's certificates; undefined when it received none. */
function readProbe(
  socket: TLSSocket,
  listener: ListenerAddress,
  options: { caPem?: string; caLabel?: string },
  handshakeError?: string,
): TlsProbeResult | undefined {
  const now = new Date();
  const peer = socket.getPeerCertificate(true);
  const chain = chainOf(peer);
  const leaf = chain[0];
  if (!leaf) return undefined;
  const trusted = rootFingerprints(options.caPem);
  const authError = socket.authorizationError;
  return {
    ok: true,
    probe: {
      leaf: summarize(leaf, now),
      chain: chain.map((c) => {
        const s = summarize(c, now);
        return {
          subject: s.subject,
          issuer: s.issuer,
          not_after: s.not_after,
          days_left: s.days_left,
          fingerprint_sha256: s.fingerprint_sha256,
          in_trust_store: trusted.has(s.fingerprint_sha256),
        };
      }),
      verifies: socket.authorized,
      ...(authError ? { verify_error: String(authError) } : {}),
      verified_against: options.caLabel ?? 'system roots',
      hostname_matches: checkServerIdentity(listener.host, peer) === undefined,
      protocol: socket.getProtocol(),
      ...(handshakeError ? { handshake_error: handshakeError } : {}),
    },
  };
}

/**
 * One TLS handshake with a listener, never trusting it, settled exactly once: by the handshake,
 * an error, the peer closing, or the deadline. Each outcome maps to the caller's answer; the socket
 * is destroyed after any of them. Both the certificate probe and posture's legacy-version probe.
 */
export function tlsHandshake<T>(
  listener: ListenerAddress,
  options: Omit<ConnectionOptions, 'host' | 'port' | 'servername' | 'rejectUnauthorized'>,
  timeoutMs: number,
  outcomes: {
    connected: (socket: TLSSocket) => T;
    failed: (error: NodeJS.ErrnoException, socket: TLSSocket) => T;
    closed: () => T;
    timedOut: () => T;
  },
): Promise<T> {
  return new Promise((resolve) => {
    let settled = false;
    const socket = connect({
      host: listener.host,
      port: listener.port,
      ...(isIP(listener.host) ? {} : { servername: listener.host }),
      rejectUnauthorized: false,
      ...options,
    });
    const finish = (answer: () => T) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      const result = answer();
      socket.destroy();
      resolve(result);
    };
    const timer = setTimeout(() => finish(outcomes.timedOut), timeoutMs);
    socket.once('secureConnect', () => finish(() => outcomes.connected(socket)));
    socket.once('error', (error: NodeJS.ErrnoException) => finish(() => outcomes.failed(error, socket)));
    socket.once('close', () => finish(outcomes.closed));
  });
}

/**
 * One TLS handshake with a listener, never trusting it (the point is to look at what it serves,
 * even an expired or self-signed certificate), then verifying the chain against `caPem` (the
 * configured CA file) or the system roots, as evidence. A listener that refuses, hangs past
 * `timeoutMs` or speaks something other than TLS is an answer with the reason, not a throw.
 */
export function probeTls(
  listener: ListenerAddress,
  options: { timeoutMs: number; caPem?: string; caLabel?: string },
): Promise<TlsProbeResult> {
  return tlsHandshake<TlsProbeResult>(
    listener,
    { ALPNProtocols: ALPN, ...(options.caPem !== undefined ? { ca: options.caPem } : {}) },
    options.timeoutMs,
    {
      timedOut: () => ({
        ok: false,
        reason: 'timeout',
        error: `no TLS handshake within ${options.timeoutMs} ms (the listener hangs or is filtered)`,
      }),
      connected: (socket) => {
        try {
          return (
            readProbe(socket, listener, options) ?? {
              ok: false,
              reason: 'tls-error',
              error: 'the listener presented no certificate',
            }
          );
        } catch (error) {
          return { ok: false, reason: 'tls-error', error: `unreadable certificate: ${errorMessage(error)}` };
        }
      },
      failed: (error, socket) => {
        const failed = classify(error);
        let late: TlsProbeResult | undefined;
        try {
          late = readProbe(socket, listener, options, failed.error);
        } catch {
          late = undefined;
        }
        return late ?? { ok: false, ...failed };
      },
      closed: () => ({
        ok: false,
        reason: 'not-tls',
        error: 'the peer closed the connection before a TLS handshake',
      }),
    },
  );
}
