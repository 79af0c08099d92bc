import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { acceptsConnections, freePort } from '../../src/util/ports.js';
import { startDaemon } from './daemon.js';

export interface TestTsigKey {
  name: string;
  algorithm: 'hmac-sha256';
  /** base64, as BIND's `key` clause and `nsupdate -y` take it. */
  secret: string;
}

export interface TestBind {
  host: '127.0.0.1';
  /** UDP and TCP. */
  port: number;
  /** The one zone; tenant domains (`<t>.mail.example`) are names inside it. */
  zone: string;
  /** The key the zone accepts updates signed with. */
  tsig: TestTsigKey;
  /** A key the server knows (valid signatures) but the zone's allow-update does not name: REFUSED. */
  unauthorizedTsig: TestTsigKey;
  /**
   * Replaces the TXT RRset at `name` (empty: deletes it) through `nsupdate`, BIND's own client, so
   * tests set up DNS state without the code under test.
   */
  setTxt(name: string, strings: string[]): void;
  dir: string;
  stop(): Promise<void>;
}

const NAMED = process.env['SEALWATCH_NAMED'] ?? '/usr/sbin/named';

/**
 * Debian's BIND 9 in the foreground on a free loopback port (UDP and TCP), authoritative for one
 * zone that accepts RFC 2136 updates signed by a TSIG key made here. It runs as the user that
 * starts it (root in CI) with everything, zone journal included, in a temp dir.
 */
export async function startBind(zone = 'mail.example'): Promise<TestBind> {
  if (!existsSync(NAMED))
    throw new Error(`${NAMED} not found: apt-get install bind9, or set SEALWATCH_NAMED`);
  // Tests set records with nsupdate and read them with dig, BIND's own clients (not pulled in by bind9).
  for (const tool of ['nsupdate', 'dig'])
    if (spawnSync(tool, ['-V'], { stdio: 'ignore' }).error)
      throw new Error(`${tool} not found: apt-get install bind9-dnsutils`);
  const dir = mkdtempSync(join(tmpdir(), 'sealwatch-bind-'));
  // named listens on UDP too; a port free on TCP is almost always free on UDP on loopback, and a
  // clash shows as named failing to start, reported below with its log.
  const port = await freePort();
  const tsig: TestTsigKey = {
    name: 'sealwatch-test-key',
    algorithm: 'hmac-sha256',
    secret: randomBytes(32).toString('base64'),
  };
  const unauthorizedTsig: TestTsigKey = {
    name: 'sealwatch-other-key',
    algorithm: 'hmac-sha256',
    secret: randomBytes(32).toString('base64'),
  };
  writeFileSync(
    join(dir, `${zone}.zone`),
    [
      '$TTL 300',
      `@ IN SOA ns.${zone}. hostmaster.${zone}. 1 3600 600 86400 60`,
      `@ IN NS ns.${zone}.`,
      'ns IN A 127.0.0.1',
      '',
    ].join('\n'),
  );
  const config = join(dir, 'named.conf');
  writeFileSync(
    config,
    `options {
  directory "${dir}";
  pid-file "${join(dir, 'named.pid')}";
  session-keyfile "${join(dir, 'session.key')}";
  managed-keys-directory "${dir}";
  listen-on port ${port} { 127.0.0.1; };
  listen-on-v6 { none; };
  recursion no;
  allow-query { any; };
  dnssec-validation no;
  notify no;
};
controls { };
key "${tsig.name}" { algorithm ${tsig.algorithm}; secret "${tsig.secret}"; };
key "${unauthorizedTsig.name}" { algorithm ${unauthorizedTsig.algorithm}; secret "${unauthorizedTsig.secret}"; };
zone "${zone}" {
  type primary;
  file "${join(dir, `${zone}.zone`)}";
  allow-update { key "${tsig.name}"; };
};
`,
    { mode: 0o600 },
  );
  const check = spawnSync('named-checkconf', [config], { encoding: 'utf8' });
  if (check.status !== 0)
    throw new Error(`named-checkconf rejected the test config: ${check.stdout}${check.stderr}`);

  const daemon = await startDaemon(`named on port ${port}`, NAMED, ['-g', '-4', '-n', '1', '-c', config], {
    dir,
    // "running" is logged once every zone is loaded and the listeners are up.
    ready: async (log) => log.includes('running') && (await acceptsConnections(port)),
    timeoutMs: 20_000,
  });

  const setTxt = (name: string, strings: string[]) => {
    const quoted = strings.map((s) => `"${s.replace(/["\\]/g, '\\$&')}"`).join(' ');
    const script = [
      `server 127.0.0.1 ${port}`,
      `zone ${zone}`,
      `update delete ${name}. TXT`,
      ...(strings.length ? [`update add ${name}. 300 TXT ${quoted}`] : []),
      'send',
      '',
    ].join('\n');
    // The key goes in a file, not argv: argv is visible to every process on the machine.
    const keyFile = join(dir, 'nsupdate.key');
    writeFileSync(
      keyFile,
      `key "${tsig.name}" { algorithm ${tsig.algorithm}; secret "${tsig.secret}"; };\n`,
      { mode: 0o600 },
    );
    const result = spawnSync('nsupdate', ['-v', '-k', keyFile], { input: script, encoding: 'utf8' });
    if (result.status !== 0) throw new Error(`nsupdate failed: ${result.stdout}${result.stderr}`);
  };

  return {
    host: '127.0.0.1',
    port,
    zone,
    tsig,
    unauthorizedTsig,
    setTxt,
    dir,
    stop: () => daemon.stop(),
  };
}
