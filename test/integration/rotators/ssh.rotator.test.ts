import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { appendFileSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { silentLogger } from '../../../src/logging/logger.js';
import { RotationError } from '../../../src/rotate/rotation.errors.js';
import type { RotationInput, SecretData, SecretRef } from '../../../src/rotate/rotator.js';
import { createSshRotator } from '../../../src/rotate/rotators/ssh.rotator.js';
import { generateSshKeyPair } from '../../../src/secrets/generators.js';
import { rotatorContract } from '../../contract/rotator.contract.js';
import { startSshd, type TestSshd } from '../../harness/sshd.js';

/**
 * SSH-key rotation against Debian's real sshd. Whether a key works is asked with OpenSSH's own
 * client (`ssh -i key … true`), not with the ssh2 library the rotator uses.
 */
function opensshAccepts(sshd: TestSshd, privateKey: string): boolean {
  const keyFile = join(sshd.dir, `probe-${randomBytes(6).toString('hex')}`);
  writeFileSync(keyFile, privateKey.endsWith('\n') ? privateKey : privateKey + '\n', { mode: 0o600 });
  const knownHosts = join(sshd.dir, 'known_hosts');
  const pub = readFileSync(join(sshd.dir, 'host_ed25519.pub'), 'utf8').trim();
  writeFileSync(knownHosts, `[127.0.0.1]:${sshd.port} ${pub}\n`);
  const result = spawnSync(
    'ssh',
    [
      '-F',
      '/dev/null',
      '-i',
      keyFile,
      '-o',
      'IdentitiesOnly=yes',
      '-o',
      'BatchMode=yes',
      '-o',
      'PasswordAuthentication=no',
      '-o',
      `UserKnownHostsFile=${knownHosts}`,
      '-o',
      'StrictHostKeyChecking=yes',
      '-o',
      'ConnectTimeout=10',
      '-p',
      String(sshd.port),
      `${sshd.user}@127.0.0.1`,
      'true',
    ],
    { encoding: 'utf8', timeout: 20_000 },
  );
  if (result.status !== 0 && !/Permission denied/.test(result.stderr))
    throw new Error(`ssh probe failed for another reason than a refused key: ${result.stderr}`);
  return result.status === 0;
}

let tenantCounter = 0;
/** A tenant whose current key the server already accepts. */
function seedTenant(sshd: TestSshd): { ref: SecretRef; current: SecretData } {
  const tenant = `t${++tenantCounter}-${randomBytes(3).toString('hex')}`;
  const pair = generateSshKeyPair(`${tenant}@seed`);
  appendFileSync(sshd.authorizedKeysFile, pair.publicKey + '\n');
  return {
    ref: { tenant, kind: 'ssh', path: `secret/tenants/${tenant}/ssh` },
    current: { username: sshd.user, private_key: pair.privateKey, public_key: pair.publicKey },
  };
}

const io = (ref: SecretRef, current: SecretData, next: SecretData): RotationInput => ({
  ref,
  current,
  next,
  logger: silentLogger(),
  signal: new AbortController().signal,
});

// Local mode: the rotator edits the file sshd reads on this host.
rotatorContract('ssh (authorized-keys, local file, real sshd)', async () => {
  const sshd = await startSshd();
  return {
    rotator: createSshRotator({
      mode: 'authorized-keys',
      authorized_keys: join(sshd.dir, '{username}', 'authorized_keys'),
      login: { host: sshd.host, port: sshd.port, host_key: sshd.hostKeyFingerprint },
    }),
    secret: async () => seedTenant(sshd),
    works: async (_ref, data) => opensshAccepts(sshd, data['private_key']!),
    refusesOld: true,
    teardown: () => sshd.stop(),
  };
});

// via mode: the rotator edits the file on the SSH host over SFTP, logged in as an admin key.
rotatorContract('ssh (authorized-keys over SSH via the host, real sshd)', async () => {
  const sshd = await startSshd();
  return {
    rotator: createSshRotator({
      mode: 'authorized-keys',
      authorized_keys: join(sshd.dir, '{username}', 'authorized_keys'),
      via: {
        host: sshd.host,
        port: sshd.port,
        user: sshd.user,
        private_key_file: sshd.admin.privateKeyFile,
        host_key: sshd.hostKeyFingerprint,
      },
      login: { host: sshd.host, port: sshd.port, host_key: sshd.hostKeyFingerprint },
    }),
    secret: async () => seedTenant(sshd),
    works: async (_ref, data) => opensshAccepts(sshd, data['private_key']!),
    refusesOld: true,
    teardown: () => sshd.stop(),
  };
});

describe('ssh rotator against a real sshd', () => {
  let sshd: TestSshd;
  beforeAll(async () => {
    sshd = await startSshd();
  });
  afterAll(async () => {
    await sshd?.stop();
  });

  const localTarget = () =>
    ({
      mode: 'authorized-keys',
      authorized_keys: join(sshd.dir, '{username}', 'authorized_keys'),
      login: { host: sshd.host, port: sshd.port, host_key: sshd.hostKeyFingerprint },
    }) as const;

  it('keeps the file mode, other lines and their options; comments survive', async () => {
    const { ref, current } = seedTenant(sshd);
    const other = generateSshKeyPair('someone-else');
    const optioned = `from="127.0.0.1",command="echo \\"hi there\\"" ${other.publicKey}`;
    appendFileSync(sshd.authorizedKeysFile, `# kept comment\n${optioned}\n`);
    const { chmodSync } = await import('node:fs');
    chmodSync(sshd.authorizedKeysFile, 0o640);
    const rotator = createSshRotator(localTarget());
    const next = await rotator.generate(ref, current);
    await rotator.apply(io(ref, current, next));
    await rotator.finalize(io(ref, current, next));
    const content = readFileSync(sshd.authorizedKeysFile, 'utf8');
    expect(content).toContain('# kept comment\n');
    expect(content).toContain(optioned + '\n');
    expect(content).toContain(next['public_key']!);
    expect(content).not.toContain(current['public_key']!.split(' ')[1]!);
    expect(statSync(sshd.authorizedKeysFile).mode & 0o777).toBe(0o640);
    expect(opensshAccepts(sshd, next['private_key']!)).toBe(true);
  });

  it('over SFTP via the host: the file keeps its mode and owner, sshd takes the new key', async () => {
    const { ref, current } = seedTenant(sshd);
    const { chmodSync, chownSync } = await import('node:fs');
    chmodSync(sshd.authorizedKeysFile, 0o604);
    // nobody:nogroup on Debian: an owner the rotator itself is not.
    chownSync(sshd.authorizedKeysFile, 65534, 65534);
    const rotator = createSshRotator({
      ...localTarget(),
      via: {
        host: sshd.host,
        port: sshd.port,
        user: sshd.user,
        private_key_file: sshd.admin.privateKeyFile,
        host_key: sshd.hostKeyFingerprint,
      },
    });
    const next = await rotator.generate(ref, current);
    const sftpSessions = () => sshd.log().match(/Starting session: subsystem 'sftp'/g)?.length ?? 0;
    const before = sftpSessions();
    await rotator.apply(io(ref, current, next));
    await rotator.verify(io(ref, current, next));
    await rotator.finalize(io(ref, current, next));
    // The edits went through sshd (SFTP), not through this process's file system.
    expect(sftpSessions()).toBeGreaterThanOrEqual(before + 2);
    const info = statSync(sshd.authorizedKeysFile);
    expect([info.mode & 0o777, info.uid, info.gid]).toEqual([0o604, 65534, 65534]);
    expect(opensshAccepts(sshd, next['private_key']!)).toBe(true);
    expect(opensshAccepts(sshd, current['private_key']!)).toBe(false);
    chownSync(sshd.authorizedKeysFile, 0, 0);
    chmodSync(sshd.authorizedKeysFile, 0o600);
  });

  it('concurrent rotations of tenants sharing one file lose no line', async () => {
    const rotator = createSshRotator(localTarget());
    const tenants = Array.from({ length: 6 }, () => seedTenant(sshd));
    const rotated = await Promise.all(
      tenants.map(async ({ ref, current }) => {
        const next = await rotator.generate(ref, current);
        await rotator.apply(io(ref, current, next));
        await rotator.verify(io(ref, current, next));
        await rotator.finalize(io(ref, current, next));
        return { current, next };
      }),
    );
    const content = readFileSync(sshd.authorizedKeysFile, 'utf8');
    for (const { current, next } of rotated) {
      expect(content).toContain(next['public_key']!.split(' ')[1]!);
      expect(content).not.toContain(current['public_key']!.split(' ')[1]!);
    }
  });

  it('finalize keeps the old key when the new one was never applied (no lock-out)', async () => {
    const { ref, current } = seedTenant(sshd);
    const rotator = createSshRotator(localTarget());
    const next = await rotator.generate(ref, current);
    const error = await rotator.finalize(io(ref, current, next)).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(RotationError);
    expect((error as Error).message).toContain(ref.tenant);
    expect(opensshAccepts(sshd, current['private_key']!)).toBe(true);
  });

  it('verifyOldRefused fails while the old key still logs in', async () => {
    const { ref, current } = seedTenant(sshd);
    const rotator = createSshRotator(localTarget());
    const next = await rotator.generate(ref, current);
    await rotator.apply(io(ref, current, next));
    const error = await rotator.verifyOldRefused!(io(ref, current, next)).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(RotationError);
    expect((error as Error).message).toMatch(/old key still logs in/);
    await rotator.rollback(io(ref, current, next));
  });

  it('refuses a login host whose host key is not the configured one, offering no key', async () => {
    const { ref, current } = seedTenant(sshd);
    const rotator = createSshRotator({
      ...localTarget(),
      login: { host: sshd.host, port: sshd.port, host_key: 'SHA256:' + 'A'.repeat(43) },
    });
    const error = await rotator.verify(io(ref, current, current)).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(RotationError);
    expect((error as Error).message).toMatch(/host key .* is not the configured/);
  });

  it('a login host that is down is a retryable RotationError naming the host', async () => {
    const { ref, current } = seedTenant(sshd);
    const rotator = createSshRotator({ ...localTarget(), login: { host: '127.0.0.1', port: 1 } });
    const error = await rotator.verify(io(ref, current, current)).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(RotationError);
    expect((error as RotationError).retryable).toBe(true);
    expect((error as Error).message).toContain('127.0.0.1:1');
  });

  it('a username that would leave the template directory is refused before any file is touched', async () => {
    const { ref, current } = seedTenant(sshd);
    const rotator = createSshRotator(localTarget());
    const bad = { ...current, username: '../etc' };
    const next = await rotator.generate(ref, bad);
    const error = await rotator.apply(io(ref, bad, next)).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(RotationError);
    expect((error as Error).message).toMatch(/cannot be used in a file path/);
  });

  it('vault-only: verify checks that the public key belongs to the private key', async () => {
    const { ref, current } = seedTenant(sshd);
    const rotator = createSshRotator({ mode: 'vault-only' });
    expect(rotator.targetOf(ref, current)).toBe('vault-only');
    const next = await rotator.generate(ref, current);
    await rotator.apply(io(ref, current, next));
    await rotator.verify(io(ref, current, next));
    const mismatched = { ...next, public_key: current['public_key']! };
    const error = await rotator.verify(io(ref, current, mismatched)).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(RotationError);
    expect((error as Error).message).not.toContain(next['private_key']!.slice(40, 80));
  });
});
