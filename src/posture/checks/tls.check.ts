import { isIP } from 'node:net';
import type { PostureCheck, PostureFinding } from '../check.js';
import { sanitizedConfigFor } from '../server-config.js';

const check = { id: 'tls', area: 'tls' } as const;
const raised = { check: check.id, area: check.area } as const;

/** Listeners serving plain HTTP on an address other hosts can reach. */
export const tlsCheck: PostureCheck = {
  ...check,
  title: 'listeners without TLS on non-loopback addresses',
  async run(ctx) {
    const read = await sanitizedConfigFor(ctx, check, 'the listeners of the server configuration');
    if ('refused' in read) return [read.refused];
    const { config } = read;
    const findings: PostureFinding[] = [];
    for (const listener of config.listeners ?? []) {
      if (listener.type !== 'tcp') continue;
      const settings = listener.config ?? {};
      const address = typeof settings['address'] === 'string' ? settings['address'] : '127.0.0.1:8200';
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
  },
};

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
