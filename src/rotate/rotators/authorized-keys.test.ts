import { describe, expect, it } from 'vitest';
import { authorizedKeysPath, hasKey, keyIdentity, withKey, withoutKey } from './authorized-keys.js';

const A = 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIAaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa a@host';
const B = 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIBbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb b@host';
const RSA = 'ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAABAQC0= rsa@host';

describe('keyIdentity', () => {
  it('is type and blob, whatever the comment or options', () => {
    const id = 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIAaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa';
    expect(keyIdentity(A)).toBe(id);
    expect(keyIdentity(A.replace('a@host', 'other comment with spaces'))).toBe(id);
    expect(keyIdentity(`no-pty,command="echo \\"a b\\" ssh-rsa x" ${A}`)).toBe(id);
    expect(keyIdentity(RSA)).toBe('ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAABAQC0=');
  });

  it('is null for blank lines, comments and garbage', () => {
    expect(keyIdentity('')).toBeNull();
    expect(keyIdentity('   ')).toBeNull();
    expect(keyIdentity(`# ${A}`)).toBeNull();
    expect(keyIdentity('not a key')).toBeNull();
  });
});

describe('withKey / withoutKey', () => {
  it('appends once, adding the missing newline, and keeps every other line', () => {
    const file = `# admins\n${RSA}`;
    const added = withKey(file, B);
    expect(added).toBe(`# admins\n${RSA}\n${B}\n`);
    expect(withKey(added, B)).toBe(added);
    expect(withKey(added, B.replace('b@host', 'renamed'))).toBe(added);
    expect(withKey('', A)).toBe(`${A}\n`);
  });

  it('removes every line of the key, with options or another comment, and nothing else', () => {
    const file = `${A}\n# keep\n${B}\nfrom="10.0.0.1" ${A.replace('a@host', 'x')}\n${RSA}\n`;
    const removed = withoutKey(file, A);
    expect(removed).toBe(`# keep\n${B}\n${RSA}\n`);
    expect(hasKey(removed, A)).toBe(false);
    expect(withoutKey(removed, A)).toBe(removed);
  });

  it('refuses a value that is not a public key line', () => {
    expect(() => withKey('', 'garbage')).toThrow(/not an OpenSSH public key/);
    expect(() => withoutKey('', '')).toThrow(/not an OpenSSH public key/);
  });
});

describe('authorizedKeysPath', () => {
  it('fills in tenant and username', () => {
    expect(
      authorizedKeysPath('/home/{username}/.ssh/authorized_keys.{tenant}', {
        tenant: 'acme',
        username: 'acme_app',
      }),
    ).toBe('/home/acme_app/.ssh/authorized_keys.acme');
  });

  it('refuses names that would leave the directory', () => {
    for (const username of ['..', '../root', 'a/b', '.hidden', ''])
      expect(() => authorizedKeysPath('/home/{username}/k', { tenant: 't', username })).toThrow(
        /cannot be used/,
      );
  });
});
