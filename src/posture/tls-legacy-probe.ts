import { tlsHandshake, type ListenerAddress } from '../runbooks/cert-expiry/tls-probe.js';

export type LegacyTlsAnswer =
  | { accepted: true; protocol: string }
  | { accepted: false; error: string }
  | { accepted: undefined; error: string };

/**
 * One handshake offering only TLS 1.0 and 1.1 (at OpenSSL security level 0, which allows their
 * SHA-1 signatures): `accepted` when the listener agrees to one of them, false when it refuses
 * (a protocol-version alert or a closed connection), undefined when it could not be asked at all.
 */
export function probeLegacyTls(listener: ListenerAddress, timeoutMs: number): Promise<LegacyTlsAnswer> {
  return tlsHandshake<LegacyTlsAnswer>(
    listener,
    { minVersion: 'TLSv1', maxVersion: 'TLSv1.1', ciphers: 'DEFAULT@SECLEVEL=0' },
    timeoutMs,
    {
      timedOut: () => ({ accepted: undefined, error: `no answer within ${timeoutMs} ms` }),
      connected: (socket) => ({ accepted: true, protocol: socket.getProtocol() ?? 'TLSv1.x' }),
      failed: (error) =>
        error.code === 'ECONNREFUSED' || error.code === 'EHOSTUNREACH' || error.code === 'ENOTFOUND'
          ? { accepted: undefined, error: `${error.code}: ${error.message}` }
          : { accepted: false, error: error.code ?? error.message },
      closed: () => ({ accepted: false, error: 'closed during the handshake' }),
    },
  );
}
