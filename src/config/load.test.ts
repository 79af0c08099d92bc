import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ConfigError } from '../errors.js';
import { loadConfig, loadCredentials, redactUrl } from './load.js';
import { ROTATOR_KINDS } from './rotation.schema.js';

const dir = mkdtempSync(join(tmpdir(), 'sealwatch-config-'));
const file = (name: string, text: string) => {
  const path = join(dir, name);
  writeFileSync(path, text);
  return path;
};

describe('loadConfig', () => {
  const cfg = file(
    'a.yaml',
    [
      'vault:',
      '  addresses: [http://10.0.0.1:8200, http://10.0.0.2:8200/]',
      'store: { url: state/sw.db }',
      'tenancy:',
      '  paths:',
      '    - secret/tenants/{tenant}/smtp',
      '    - secret/api_keys/{tenant}/{key_id}',
      '  exclude: [test-tenant-id]',
      '  source: { kind: file, file: tenants.txt }',
    ].join('\n'),
  );

  it('reads the file, resolves relative paths against it and freezes the result', () => {
    const config = loadConfig({ config: cfg }, {});
    expect(config.vault.addresses).toEqual(['http://10.0.0.1:8200', 'http://10.0.0.2:8200']);
    expect(config.vault.addressSource).toBe('config');
    expect(config.store.url).toBe(join(dir, 'state/sw.db'));
    expect(config.tenancy.source).toEqual({ kind: 'file', file: join(dir, 'tenants.txt') });
    expect(config.tenancy.exclude.has('test-tenant-id')).toBe(true);
    expect(config.tenancy.paths.map((t) => t.source)).toEqual([
      'secret/tenants/{tenant}/smtp',
      'secret/api_keys/{tenant}/{key_id}',
    ]);
    expect(Object.isFrozen(config.vault)).toBe(true);
  });

  it('takes --addr over BAO_ADDR over VAULT_ADDR over the file', () => {
    expect(
      loadConfig({ config: cfg, addr: 'http://f:1' }, { BAO_ADDR: 'http://b:1' }).vault.addresses,
    ).toEqual(['http://f:1']);
    expect(
      loadConfig({ config: cfg }, { BAO_ADDR: 'http://b:1', VAULT_ADDR: 'http://v:1' }).vault.addresses,
    ).toEqual(['http://b:1']);
    expect(loadConfig({}, { VAULT_ADDR: 'http://v:1,http://w:1' }).vault.addresses).toEqual([
      'http://v:1',
      'http://w:1',
    ]);
    expect(loadConfig({}, {}, dir).vault.addresses).toEqual(['http://127.0.0.1:8200']);
  });

  it('treats BAO_ADDR naming one configured node as the node to try first', () => {
    const config = loadConfig({ config: cfg }, { BAO_ADDR: 'http://10.0.0.2:8200' });
    expect(config.vault.addresses).toEqual(['http://10.0.0.2:8200', 'http://10.0.0.1:8200']);
  });

  it('takes SEALWATCH_STORE and --store, relative to the working directory', () => {
    expect(loadConfig({ config: cfg }, { SEALWATCH_STORE: 'x.db' }, '/work').store.url).toBe('/work/x.db');
    expect(loadConfig({ store: 'postgres://u:p@h/db' }, {}).store.url).toBe('postgres://u:p@h/db');
    expect(() => loadConfig({ store: 'mysql://h/db' }, {})).toThrow(ConfigError);
  });

  it('gives every rotator kind its default target, and refuses a kind with none', () => {
    const config = loadConfig({ config: cfg }, {});
    expect(Object.keys(config.rotation.targets).sort()).toEqual([...ROTATOR_KINDS].sort());
    expect(config.rotation.targets.smtp).toEqual({ mode: 'vault-only' });
    const unknownKind = file(
      'kind.yaml',
      ['rotation:', '  secrets:', "    - { kind: telnet, path: 'secret/tenants/{tenant}/telnet' }"].join(
        '\n',
      ),
    );
    expect(() => loadConfig({ config: unknownKind }, {})).toThrow(/rotation\.secrets\.0\.kind/);
  });

  it('names the file and key of a wrong value', () => {
    const bad = file('b.yaml', 'vault:\n  timeout_ms: fast\n');
    expect(() => loadConfig({ config: bad }, {})).toThrow(new RegExp(`${bad}: vault\\.timeout_ms: `));
    const source = file('c.yaml', 'tenancy:\n  source: { kind: ldap }\n');
    expect(() => loadConfig({ config: source }, {})).toThrow(/tenancy\.source\.kind/);
  });

  it('checks suspects and allow_actors with the parser of --suspect', () => {
    const good = file(
      's.yaml',
      "suspects: ['role:approle/mailer', 'address:203.0.113.0/24']\nassess: { allow_actors: ['display-name:billing'] }\n",
    );
    const config = loadConfig({ config: good }, {});
    expect(config.suspects).toEqual(['role:approle/mailer', 'address:203.0.113.0/24']);
    expect(config.assess.allowActors).toEqual(['display-name:billing']);
    const cidr = file('t.yaml', "suspects: ['address:10.0.0.0/40']\n");
    expect(() => loadConfig({ config: cidr }, {})).toThrow(
      /suspects\.0: address:10\.0\.0\.0\/40: address: .* is not an IP address or CIDR/,
    );
    const allow = file('u.yaml', "assess: { allow_actors: ['accessor:abc'] }\n");
    expect(() => loadConfig({ config: allow }, {})).toThrow(
      /assess\.allow_actors\.0: accessor:abc: only display-name: or role: here/,
    );
  });
});

describe('loadCredentials', () => {
  const config = loadConfig({}, {}, dir);
  it('takes --token, then BAO_TOKEN, then VAULT_TOKEN, then ~/.vault-token', () => {
    expect(loadCredentials(config, { token: 'f' }, { BAO_TOKEN: 'b' }).tokenSource).toBe('flag');
    expect(loadCredentials(config, {}, { BAO_TOKEN: 'b', VAULT_TOKEN: 'v' })).toEqual({
      token: 'b',
      tokenSource: 'BAO_TOKEN',
    });
    expect(loadCredentials(config, {}, { VAULT_TOKEN: 'v' }).token).toBe('v');
    writeFileSync(join(dir, '.vault-token'), 'helper-token\n');
    expect(loadCredentials(config, {}, { HOME: dir })).toEqual({
      token: 'helper-token',
      tokenSource: 'token_helper',
    });
    expect(loadCredentials(config, {}, { HOME: join(dir, 'nowhere') }).tokenSource).toBe('none');
  });
});

describe('redactUrl', () => {
  it('hides the password of a store URL', () => {
    expect(redactUrl('postgres://sealwatch:hunter2@127.0.0.1:5432/db')).toBe(
      'postgres://sealwatch:***@127.0.0.1:5432/db',
    );
  });
});
