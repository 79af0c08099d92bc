import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DkimTarget } from '../../../src/config/rotation.schema.js';
import { silentLogger } from '../../../src/logging/logger.js';
import { RotationError } from '../../../src/rotate/rotation.errors.js';
import type { RotationInput, SecretData, SecretRef } from '../../../src/rotate/rotator.js';
import { createDkimRotator, dkimRecord } from '../../../src/rotate/rotators/dkim.rotator.js';
import { splitTxt } from '../../../src/rotate/rotators/dns-update.js';
import { generateDkimKey } from '../../../src/secrets/generators.js';
import { rotatorContract } from '../../contract/rotator.contract.js';
import { startBind, type TestBind } from '../../harness/bind.js';

/**
 * DKIM rotation against Debian's real BIND 9: updates are RFC 2136 + TSIG, and what is published
 * is read back with BIND's own `dig`, not with the code under test.
 */
function digTxt(bind: TestBind, name: string): string[][] {
  const result = spawnSync(
    'dig',
    ['+tcp', '+short', '+norecurse', '-p', String(bind.port), '@127.0.0.1', name, 'TXT'],
    { encoding: 'utf8', timeout: 20_000 },
  );
  if (result.status !== 0) throw new Error(`dig failed: ${result.stderr}`);
  return result.stdout
    .split('\n')
    .filter((line) => line.trim())
    .map((line) => [...line.matchAll(/"((?:[^"\\]|\\.)*)"/g)].map((m) => m[1]!));
}

const recordNameOf = (data: SecretData) => `${data['selector']}._domainkey.${data['domain']}`;

/** Is `data`'s key the one published at its selector? */
function published(bind: TestBind, data: SecretData): boolean {
  return digTxt(bind, recordNameOf(data)).some(
    (strings) => strings.join('') === dkimRecord(data['public_key']!),
  );
}

let tenantCounter = 0;
async function seedTenant(bind: TestBind): Promise<{ ref: SecretRef; current: SecretData }> {
  const tenant = `t${++tenantCounter}-${randomBytes(3).toString('hex')}`;
  const key = await generateDkimKey('lab2024');
  const current = {
    domain: `${tenant}.${bind.zone}`,
    selector: key.selector,
    private_key: key.privateKey,
    public_key: key.publicKey,
  };
  bind.setTxt(recordNameOf(current), splitTxt(key.record));
  return { ref: { tenant, kind: 'dkim', path: `secret/tenants/${tenant}/dkim` }, current };
}

const TSIG_ENV = 'SEALWATCH_TEST_TSIG';

function rfc2136Target(bind: TestBind): Extract<DkimTarget, { mode: 'rfc2136' }> {
  return {
    mode: 'rfc2136',
    server: { host: bind.host, port: bind.port },
    zone: bind.zone,
    tsig: { name: bind.tsig.name, algorithm: bind.tsig.algorithm, secret: { env: TSIG_ENV } },
    ttl: 300,
  };
}

const io = (ref: SecretRef, current: SecretData, next: SecretData): RotationInput => ({
  ref,
  current,
  next,
  logger: silentLogger(),
  signal: new AbortController().signal,
});

rotatorContract('dkim (rfc2136 + TSIG, real BIND)', async () => {
  const bind = await startBind();
  return {
    rotator: createDkimRotator(rfc2136Target(bind), { env: { [TSIG_ENV]: bind.tsig.secret } }),
    secret: () => seedTenant(bind),
    works: async (_ref, data) => published(bind, data),
    // finalize deletes the old selector (the engine calls it after the grace period), rollback the new one.
    refusesOld: true,
    teardown: () => bind.stop(),
  };
});

describe('dkim rotator against a real BIND', () => {
  let bind: TestBind;
  beforeAll(async () => {
    bind = await startBind();
  });
  afterAll(async () => {
    await bind?.stop();
  });

  it('publishes under a new selector, split into character-strings of at most 255 bytes', async () => {
    const { ref, current } = await seedTenant(bind);
    const rotator = createDkimRotator(rfc2136Target(bind), { env: { [TSIG_ENV]: bind.tsig.secret } });
    // A 4096-bit key makes a record of about 750 bytes: three strings.
    const key = await generateDkimKey('sw4096test', 4096);
    const next = {
      ...current,
      selector: key.selector,
      private_key: key.privateKey,
      public_key: key.publicKey,
    };
    await rotator.apply(io(ref, current, next));
    const [strings, ...others] = digTxt(bind, recordNameOf(next));
    expect(others).toEqual([]);
    expect(strings!.length).toBeGreaterThanOrEqual(3);
    for (const s of strings!) expect(Buffer.byteLength(s)).toBeLessThanOrEqual(255);
    expect(strings!.join('')).toBe(key.record);
    await rotator.verify(io(ref, current, next));
    expect(published(bind, current)).toBe(true);
    await rotator.rollback(io(ref, current, next));
    expect(digTxt(bind, recordNameOf(next))).toEqual([]);
  });

  it('generates a selector other than the current one, even twice within a minute', async () => {
    const { ref, current } = await seedTenant(bind);
    const clock = () => new Date('2026-03-01T10:20:30Z');
    const rotator = createDkimRotator(rfc2136Target(bind), { now: clock });
    const first = await rotator.generate(ref, current);
    expect(first['selector']).toBe('sw202603011020');
    const second = await rotator.generate(ref, first);
    expect(second['selector']).toBe('sw202603011020a');
    expect(second['domain']).toBe(current['domain']);
  });

  it('a wrong TSIG key: RotationError naming the rcode, nothing published, no secret in the message', async () => {
    const { ref, current } = await seedTenant(bind);
    const wrongSecret = randomBytes(32).toString('base64');
    const rotator = createDkimRotator(rfc2136Target(bind), { env: { [TSIG_ENV]: wrongSecret } });
    const next = await rotator.generate(ref, current);
    const error = await rotator.apply(io(ref, current, next)).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(RotationError);
    const message = (error as Error).message;
    expect(message).toContain(ref.tenant);
    expect(message).toContain('NOTAUTH');
    expect(message).toContain('BADSIG');
    expect((error as RotationError).details['rcode']).toBe('NOTAUTH');
    expect((error as RotationError).retryable).toBe(false);
    expect(message).not.toContain(wrongSecret);
    expect(message).not.toContain(bind.tsig.secret);
    expect(digTxt(bind, recordNameOf(next))).toEqual([]);
    expect(published(bind, current)).toBe(true);
  });

  it('a valid key the zone does not allow to update: REFUSED, nothing published', async () => {
    const { ref, current } = await seedTenant(bind);
    const other = bind.unauthorizedTsig;
    const rotator = createDkimRotator(
      {
        ...rfc2136Target(bind),
        tsig: { name: other.name, algorithm: other.algorithm, secret: { env: TSIG_ENV } },
      },
      { env: { [TSIG_ENV]: other.secret } },
    );
    const next = await rotator.generate(ref, current);
    const error = await rotator.apply(io(ref, current, next)).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(RotationError);
    expect((error as Error).message).toMatch(
      /refused the update of mail\.example: the server answered REFUSED \(the zone's update policy does not allow/,
    );
    expect((error as RotationError).details['rcode']).toBe('REFUSED');
    expect(digTxt(bind, recordNameOf(next))).toEqual([]);
  });

  it('a key name the server does not know: NOTAUTH (BADKEY)', async () => {
    const { ref, current } = await seedTenant(bind);
    const rotator = createDkimRotator(
      {
        ...rfc2136Target(bind),
        tsig: { name: 'not-a-key', algorithm: 'hmac-sha256', secret: { env: TSIG_ENV } },
      },
      { env: { [TSIG_ENV]: bind.tsig.secret } },
    );
    const next = await rotator.generate(ref, current);
    const error = await rotator.apply(io(ref, current, next)).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(RotationError);
    expect((error as Error).message).toMatch(/NOTAUTH \(TSIG BADKEY\)/);
    expect(digTxt(bind, recordNameOf(next))).toEqual([]);
  });

  it('a zone the server is not authoritative for: the rcode is reported, nothing published', async () => {
    const { ref, current } = await seedTenant(bind);
    const rotator = createDkimRotator(
      { ...rfc2136Target(bind), zone: undefined },
      { env: { [TSIG_ENV]: bind.tsig.secret } },
    );
    const next = await rotator.generate(ref, current);
    // Without `zone`, the tenant's domain is the zone: BIND serves only mail.example.
    const error = await rotator.apply(io(ref, current, next)).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(RotationError);
    expect((error as Error).message).toMatch(
      /refused the update .*: the server answered (NOTAUTH|NOTZONE|REFUSED)/,
    );
    expect(digTxt(bind, recordNameOf(next))).toEqual([]);
  });

  it('finalize never deletes the old record while the new one is not published', async () => {
    const { ref, current } = await seedTenant(bind);
    const rotator = createDkimRotator(rfc2136Target(bind), { env: { [TSIG_ENV]: bind.tsig.secret } });
    const next = await rotator.generate(ref, current);
    const error = await rotator.finalize(io(ref, current, next)).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(RotationError);
    expect((error as Error).message).toMatch(/new selector is not published/);
    expect(published(bind, current)).toBe(true);
  });

  it('a missing TSIG secret is a RotationError naming the variable, before anything is sent', async () => {
    const { ref, current } = await seedTenant(bind);
    const rotator = createDkimRotator(rfc2136Target(bind), { env: {} });
    const next = await rotator.generate(ref, current);
    const error = await rotator.apply(io(ref, current, next)).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(RotationError);
    expect((error as Error).message).toContain(TSIG_ENV);
  });
});

describe('dkim rotator, records-file mode', () => {
  let dir: string;
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'sealwatch-dkim-records-'));
  });
  afterAll(() => {
    rmSync(dir, { recursive: true, force: true });
  });

  /** Loads the file as part of a zone with BIND's own checker and returns what it would serve at `name`. */
  function servedByBind(file: string, name: string): string[] {
    const zone = join(dir, 'zone');
    writeFileSync(
      zone,
      [
        '$TTL 300',
        '@ IN SOA ns.mail.example. hostmaster.mail.example. 1 3600 600 86400 60',
        '@ IN NS ns.mail.example.',
        'ns IN A 127.0.0.1',
        `$INCLUDE ${file}`,
        '',
      ].join('\n'),
    );
    const result = spawnSync('named-checkzone', ['-q', '-D', '-o', '-', 'mail.example', zone], {
      encoding: 'utf8',
    });
    if (result.status !== 0) throw new Error(`named-checkzone rejected the records file: ${result.stdout}`);
    return result.stdout
      .split('\n')
      .filter((line) => line.startsWith(`${name}.`) && /\sTXT\s/.test(line))
      .map((line) => [...line.matchAll(/"((?:[^"\\]|\\.)*)"/g)].map((m) => m[1]).join(''));
  }

  it('writes a record BIND loads, keeps other lines, retires the old selector on finalize', async () => {
    const file = join(dir, 'dkim.records');
    const rotator = createDkimRotator({ mode: 'records-file', file });
    expect(rotator.targetOf({ tenant: 'acme', kind: 'dkim', path: 'x' }, {})).toBe(`records-file:${file}`);
    const old = await generateDkimKey('lab2024');
    const ref: SecretRef = { tenant: 'acme', kind: 'dkim', path: 'secret/tenants/acme/dkim' };
    const current = {
      domain: 'acme.mail.example',
      selector: 'lab2024',
      private_key: old.privateKey,
      public_key: old.publicKey,
    };
    const other = 'unrelated.mail.example. IN TXT "v=spf1 -all"';
    // The operator's file already lists the current record and something else.
    const currentLine = `${recordNameOf(current)}. IN TXT ${old.record
      .match(/.{1,200}/g)!
      .map((s) => `"${s}"`)
      .join(' ')}`;
    writeFileSync(file, `${other}\n${currentLine}\n`);
    const next = await rotator.generate(ref, current);

    // verify fails until the new record is in the file
    await expect(rotator.verify(io(ref, current, next))).rejects.toThrow(/has no record/);
    await rotator.apply(io(ref, current, next));
    await rotator.apply(io(ref, current, next));
    await rotator.verify(io(ref, current, next));
    expect(servedByBind(file, recordNameOf(next))).toEqual([dkimRecord(next['public_key']!)]);
    expect(servedByBind(file, recordNameOf(current))).toEqual([old.record]);

    await rotator.finalize(io(ref, current, next));
    await rotator.finalize(io(ref, current, next));
    expect(servedByBind(file, recordNameOf(current))).toEqual([]);
    expect(servedByBind(file, recordNameOf(next))).toEqual([dkimRecord(next['public_key']!)]);
    expect(readFileSync(file, 'utf8')).toContain(other + '\n');

    // rollback of a later rotation removes only that rotation's line
    const later = await rotator.generate(ref, next);
    await rotator.apply(io(ref, next, later));
    await rotator.rollback(io(ref, next, later));
    expect(servedByBind(file, recordNameOf(later))).toEqual([]);
    expect(servedByBind(file, recordNameOf(next))).toEqual([dkimRecord(next['public_key']!)]);
  });

  it('vault-only: verify checks the key pair, publishes nothing', async () => {
    const rotator = createDkimRotator({ mode: 'vault-only' });
    const key = await generateDkimKey('lab2024');
    const ref: SecretRef = { tenant: 'acme', kind: 'dkim', path: 'secret/tenants/acme/dkim' };
    const current = {
      domain: 'acme.mail.example',
      selector: 'lab2024',
      private_key: key.privateKey,
      public_key: key.publicKey,
    };
    expect(rotator.targetOf(ref, current)).toBe('vault-only');
    const next = await rotator.generate(ref, current);
    expect(next['selector']).not.toBe(current['selector']);
    await rotator.verify(io(ref, current, next));
    const error = await rotator
      .verify(io(ref, current, { ...next, public_key: current['public_key'] }))
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(RotationError);
    expect((error as Error).message).toMatch(/not the public half/);
  });
});
