import { isIP } from 'node:net';
import { connect } from 'node:tls';
import type { ListenerAddress } from '../runbooks/cert-expiry/tls-probe.js';

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
  return new Promise((resolve) => {
    let settled = false;
    const socket = connect({
      host: listener.host,
      port: listener.port,
      ...(isIP(listener.host) ? {} : { servername: listener.host }),
      rejectUnauthorized: false,
      minVersion: 'TLSv1',
      maxVersion: 'TLSv1.1',
      ciphers: 'DEFAULT@SECLEVEL=0',
    });
    const finish = (answer: LegacyTlsAnswer) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      socket.destroy();
      resolve(answer);
    };
    const timer = setTimeout(
      () => finish({ accepted: undefined, error: `no answer within ${timeoutMs} ms` }),
      timeoutMs,
    );
    socket.once('secureConnect', () =>
      finish({ accepted: true, protocol: socket.getProtocol() ?? 'TLSv1.x' }),
    );
    socket.once('error', (error: NodeJS.ErrnoException) => {
      if (error.code === 'ECONNREFUSED' || error.code === 'EHOSTUNREACH' || error.code === 'ENOTFOUND')
        finish({ accepted: undefined, error: `${error.code}: ${error.message}` });
      else finish({ accepted: false, error: error.code ?? error.message });
    });
    socket.once('close', () => finish({ accepted: false, error: 'closed during the handshake' }));
  });
}
