import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { homedir, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { acceptsConnections, freePort } from '../../src/util/ports.js';
import { spawnDetached, stopProcess } from '../../src/util/processes.js';
import { waitFor } from '../../src/util/wait.js';
import { trackPid, untrackPid } from './cleanup.js';

/** Where scripts/setup --tests installs PyKMIP (its own virtualenv; the version is pinned there). */
export const PYKMIP_VERSION = '0.11.0';

export interface KmipServer {
  /** host:port for the `endpoint` of a `seal "kmip"` stanza. */
  endpoint: string;
  /** The active AES-256 key made for the seal (`kms_key_id`). */
  keyId: string;
  caCert: string;
  clientCert: string;
  clientKey: string;
  stop(): Promise<void>;
}

/** The pykmip-server of the virtualenv scripts/setup made, SEALWATCH_PYKMIP_SERVER, or one on PATH. */
export function findPykmipServer(): string {
  const candidates = [
    process.env['SEALWATCH_PYKMIP_SERVER'],
    join(
      process.env['XDG_DATA_HOME'] ?? join(homedir(), '.local', 'share'),
      'sealwatch',
      `pykmip-${PYKMIP_VERSION}`,
      'bin',
      'pykmip-server',
    ),
  ];
  for (const candidate of candidates) if (candidate && existsSync(candidate)) return candidate;
  try {
    return execFileSync('sh', ['-c', 'command -v pykmip-server'], { encoding: 'utf8' }).trim();
  } catch (error) {
    throw new Error('pykmip-server is not installed: run scripts/setup --tests', { cause: error });
  }
}

/** Creates and activates an AES-256 key through PyKMIP's own client; prints its unique id. */
const CREATE_KEY = `
import sys
from kmip.pie.client import ProxyKmipClient
from kmip.core import enums
port, cert, key, ca = sys.argv[1:5]
client = ProxyKmipClient(hostname="127.0.0.1", port=int(port), cert=cert, key=key, ca=ca, config_file="/dev/null")
with client:
    uid = client.create(enums.CryptographicAlgorithm.AES, 256, operation_policy_name="default",
                        cryptographic_usage_mask=[enums.CryptographicUsageMask.ENCRYPT, enums.CryptographicUsageMask.DECRYPT])
    client.activate(uid)
    print(uid)
`;

/**
 * A real PyKMIP server on a loopback port with mutual TLS (a throwaway CA, a server certificate for
 * 127.0.0.1 and a client certificate, made with openssl), and one active AES-256 key for a seal.
 */
export async function startKmipServer(): Promise<KmipServer> {
  const serverBin = findPykmipServer();
  const dir = mkdtempSync(join(tmpdir(), 'sealwatch-kmip-'));
  const file = (name: string) => join(dir, name);
  const openssl = (args: string[]) => execFileSync('openssl', args, { cwd: dir, stdio: 'pipe' });
  let pid: number | undefined;
  const stop = async () => {
    if (pid !== undefined) {
      await stopProcess(pid, 5_000);
      untrackPid(pid);
    }
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    openssl(
      ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', 'ca.key', '-out', 'ca.crt'].concat([
        '-days',
        '2',
        '-subj',
        '/CN=sealwatch test KMIP CA',
      ]),
    );
    for (const [name, cn, ext] of [
      ['server', '127.0.0.1', 'subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth\n'],
      ['client', 'openbao', 'extendedKeyUsage=clientAuth\n'],
    ] as const) {
      writeFileSync(file(`${name}.ext`), ext);
      openssl(
        ['req', '-newkey', 'rsa:2048', '-nodes', '-keyout', `${name}.key`, '-out', `${name}.csr`].concat([
          '-subj',
          `/CN=${cn}`,
        ]),
      );
      openssl(
        ['x509', '-req', '-in', `${name}.csr`, '-CA', 'ca.crt', '-CAkey', 'ca.key', '-CAcreateserial'].concat(
          ['-out', `${name}.crt`, '-days', '2', '-extfile', `${name}.ext`],
        ),
      );
    }
    const port = await freePort();
    mkdirSync(file('policies'));
    writeFileSync(
      file('server.conf'),
      `[server]
hostname=127.0.0.1
port=${port}
certificate_path=${file('server.crt')}
key_path=${file('server.key')}
ca_path=${file('ca.crt')}
auth_suite=TLS1.2
policy_path=${file('policies')}
enable_tls_client_auth=True
logging_level=INFO
database_path=${file('pykmip.db')}
`,
    );
    pid = spawnDetached(serverBin, ['-f', file('server.conf'), '-l', file('server.log')], file('stdout.log'));
    trackPid(pid);
    await waitFor('the KMIP server to listen', () => acceptsConnections(port), {
      timeoutMs: 30_000,
      intervalMs: 200,
    });
    const python = join(dirname(serverBin), 'python');
    const keyId = execFileSync(
      existsSync(python) ? python : 'python3',
      [
        '-W',
        'ignore',
        '-c',
        CREATE_KEY,
        String(port),
        file('client.crt'),
        file('client.key'),
        file('ca.crt'),
      ],
      { encoding: 'utf8', timeout: 60_000 },
    ).trim();
    if (!/^\S+$/.test(keyId)) throw new Error(`PyKMIP answered no key id: ${keyId}`);
    return {
      endpoint: `127.0.0.1:${port}`,
      keyId,
      caCert: file('ca.crt'),
      clientCert: file('client.crt'),
      clientKey: file('client.key'),
      stop,
    };
  } catch (error) {
    await stop();
    throw error;
  }
}
