import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sshpk from 'sshpk';
import { generateSshKeyPair, type SshKeyPair } from '../../src/secrets/generators.js';
import { acceptsConnections, freePort } from '../../src/util/ports.js';
import { startDaemon } from './daemon.js';

export interface TestSshd {
  host: '127.0.0.1';
  port: number;
  /** The user logins are made as (root: the one account every machine has; sshd runs as root anyway). */
  user: string;
  /** `SHA256:…` of the server's host key, as `ssh-keygen -l` prints it. */
  hostKeyFingerprint: string;
  /** The authorized_keys file of `user`; sshd reads `<dir>/%u/authorized_keys`. */
  authorizedKeysFile: string;
  /** A key accepted for every user from a second file (the `via` admin), never edited by tests. */
  admin: SshKeyPair & { privateKeyFile: string };
  dir: string;
  /** sshd's log so far (LogLevel VERBOSE: logins, accepted key fingerprints, SFTP sessions). */
  log(): string;
  stop(): Promise<void>;
}

const SSHD = process.env['SEALWATCH_SSHD'] ?? '/usr/sbin/sshd';

/**
 * Debian's OpenSSH server in the foreground (-D) on a free loopback port, with its own host key and
 * config in a temp dir. sshd must start as root (privilege separation); logins are as root with
 * keys only, from `<dir>/%u/authorized_keys` (what the rotator edits) or `<dir>/admin_keys`.
 */
export async function startSshd(): Promise<TestSshd> {
  if (!existsSync(SSHD))
    throw new Error(`${SSHD} not found: apt-get install openssh-server, or set SEALWATCH_SSHD`);
  if (process.getuid?.() !== 0) throw new Error('the sshd test harness must run as root (sshd needs it)');
  // The privilege-separation directory is compiled into Debian's sshd; the package's service
  // creates it at boot, which a container never runs.
  mkdirSync('/run/sshd', { recursive: true, mode: 0o755 });

  const dir = mkdtempSync(join(tmpdir(), 'sealwatch-sshd-'));
  const user = 'root';
  const port = await freePort();
  const hostKey = join(dir, 'host_ed25519');
  const keygen = spawnSync(
    'ssh-keygen',
    ['-q', '-t', 'ed25519', '-N', '', '-C', 'sealwatch-test-host', '-f', hostKey],
    {
      encoding: 'utf8',
    },
  );
  if (keygen.status !== 0) throw new Error(`ssh-keygen failed: ${keygen.stderr}`);
  const hostKeyFingerprint = sshpk
    .parseKey(readFileSync(`${hostKey}.pub`, 'utf8'), 'ssh')
    .fingerprint('sha256')
    .toString();

  mkdirSync(join(dir, user), { mode: 0o700 });
  const authorizedKeysFile = join(dir, user, 'authorized_keys');
  writeFileSync(authorizedKeysFile, '', { mode: 0o600 });
  const admin = generateSshKeyPair('sealwatch-test-admin');
  const adminKeyFile = join(dir, 'admin_ed25519');
  writeFileSync(adminKeyFile, admin.privateKey, { mode: 0o600 });
  writeFileSync(join(dir, 'admin_keys'), admin.publicKey + '\n', { mode: 0o600 });

  const config = join(dir, 'sshd_config');
  writeFileSync(
    config,
    [
      `Port ${port}`,
      'ListenAddress 127.0.0.1',
      `HostKey ${hostKey}`,
      `PidFile ${join(dir, 'sshd.pid')}`,
      'PubkeyAuthentication yes',
      'PasswordAuthentication no',
      'KbdInteractiveAuthentication no',
      'PermitRootLogin prohibit-password',
      // Without PAM sshd reads the shadow entry itself and refuses locked accounts; root's `*` is not locked.
      'UsePAM no',
      // The temp dir is world-readable /tmp: skip the ownership checks meant for home directories.
      'StrictModes no',
      `AuthorizedKeysFile ${join(dir, '%u', 'authorized_keys')} ${join(dir, 'admin_keys')}`,
      'Subsystem sftp internal-sftp',
      'LogLevel VERBOSE',
      'MaxStartups 100:30:200',
      '',
    ].join('\n'),
  );
  const check = spawnSync(SSHD, ['-t', '-f', config], { encoding: 'utf8' });
  if (check.status !== 0) throw new Error(`sshd -t rejected the test config: ${check.stderr}`);

  const daemon = await startDaemon(`sshd on port ${port}`, SSHD, ['-D', '-e', '-f', config], {
    dir,
    ready: () => acceptsConnections(port),
    timeoutMs: 15_000,
  });

  return {
    host: '127.0.0.1',
    port,
    user,
    hostKeyFingerprint,
    authorizedKeysFile,
    admin: { ...admin, privateKeyFile: adminKeyFile },
    dir,
    log: () => daemon.log(),
    stop: () => daemon.stop(),
  };
}
