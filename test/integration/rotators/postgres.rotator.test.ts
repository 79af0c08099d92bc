import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { postgresTargetSchema, type PostgresTarget } from '../../../src/config/rotation.schema.js';
import { freePort } from '../../../src/util/ports.js';
import { silentLogger } from '../../../src/logging/logger.js';
import { RotationError } from '../../../src/rotate/rotation.errors.js';
import type { RotationInput, SecretData, SecretRef } from '../../../src/rotate/rotator.js';
import { createPostgresRotator, scramVerifier } from '../../../src/rotate/rotators/postgres.rotator.js';
import type { VaultClient } from '../../../src/vault/client.js';
import { rotatorContract } from '../../contract/rotator.contract.js';
import { startTestLab, type TestLab } from '../../harness/bao-lab.js';
import { startPostgres, type TestPostgres } from '../../harness/postgres.js';

const ADMIN_ENV = 'SEALWATCH_TEST_PG_ADMIN_URL';
const DATABASE = 'mail';

const target = (raw: unknown): PostgresTarget => postgresTargetSchema.parse(raw);

const io = (ref: SecretRef, current: SecretData, next: SecretData): RotationInput => ({
  ref,
  current,
  next,
  logger: silentLogger(),
  signal: new AbortController().signal,
});

/** Does the real server let this role in with this password? (28P01 → no.) */
async function canLogin(db: TestPostgres, data: SecretData): Promise<boolean> {
  const client = new pg.Client({
    connectionString: db.urlFor(data['username']!, data['password']!, data['database']),
  });
  client.on('error', () => undefined);
  try {
    await client.connect();
    await client.query('SELECT 1');
    return true;
  } catch (error) {
    if ((error as { code?: string }).code === '28P01') return false;
    throw error;
  } finally {
    await client.end().catch(() => undefined);
  }
}

async function asSuperuser<T>(db: TestPostgres, work: (c: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: db.url });
  await client.connect();
  try {
    return await work(client);
  } finally {
    await client.end();
  }
}

/** A tenant's database role, created the way the platform would, and its secret as the lab seeds it. */
let counter = 0;
async function newRole(db: TestPostgres): Promise<{ ref: SecretRef; current: SecretData }> {
  const tenant = `tenant${++counter}-${randomBytes(3).toString('hex')}`;
  const username = `app_${tenant.replace(/[^a-z0-9]/g, '_')}`;
  const password = randomBytes(16).toString('hex');
  await asSuperuser(db, (c) =>
    c.query(`CREATE ROLE ${c.escapeIdentifier(username)} LOGIN PASSWORD ${c.escapeLiteral(password)}`),
  );
  return {
    ref: { tenant, kind: 'postgres', path: `secret/tenants/${tenant}/database` },
    current: { host: '127.0.0.1', port: String(db.port), database: DATABASE, username, password },
  };
}

async function createDatabase(db: TestPostgres): Promise<void> {
  await asSuperuser(db, (c) => c.query(`CREATE DATABASE ${DATABASE}`));
}

rotatorContract('postgres (alter-role, real PostgreSQL)', async () => {
  const db = await startPostgres();
  await createDatabase(db);
  const rotator = createPostgresRotator(
    target({ mode: 'alter-role', host: '127.0.0.1', port: db.port, admin_url: { env: ADMIN_ENV } }),
    { env: { [ADMIN_ENV]: db.url } },
  );
  return {
    rotator,
    refusesOld: true,
    secret: () => newRole(db),
    works: (_ref, data) => canLogin(db, data),
    teardown: () => db.stop(),
  };
});

describe('postgres rotator (alter-role) against real PostgreSQL', () => {
  let db: TestPostgres;
  beforeAll(async () => {
    db = await startPostgres();
    await createDatabase(db);
  });
  afterAll(async () => {
    await db?.stop();
  });

  it('stores a SCRAM verifier, never the clear password, and PostgreSQL accepts it', async () => {
    const rotator = createPostgresRotator(
      target({
        mode: 'alter-role',
        host: '127.0.0.1',
        port: db.port,
        admin_url: { env: ADMIN_ENV },
        password_length: 40,
      }),
      { env: { [ADMIN_ENV]: db.url } },
    );
    const { ref, current } = await newRole(db);
    const next = await rotator.generate(ref, current);
    expect(next['password']).toHaveLength(40);
    await rotator.apply(io(ref, current, next));
    const stored = await asSuperuser(db, (c) =>
      c.query<{ rolpassword: string }>('SELECT rolpassword FROM pg_authid WHERE rolname = $1', [
        current['username'],
      ]),
    );
    expect(stored.rows[0]?.rolpassword).toMatch(/^SCRAM-SHA-256\$4096:/);
    expect(stored.rows[0]?.rolpassword).not.toContain(next['password']);
    expect(await canLogin(db, next)).toBe(true);
    // One password per role: the old one stopped working the moment apply ran.
    expect(await canLogin(db, current)).toBe(false);
  });

  it('quotes the role name: a role with a quote and spaces in its name is rotated, nothing else runs', async () => {
    const rotator = createPostgresRotator(
      target({ mode: 'alter-role', host: '127.0.0.1', port: db.port, admin_url: { env: ADMIN_ENV } }),
      { env: { [ADMIN_ENV]: db.url } },
    );
    const { ref, current } = await newRole(db);
    const odd = `odd "role"; DROP ROLE ${current['username']}; --`;
    await asSuperuser(db, (c) =>
      c.query(`ALTER ROLE ${c.escapeIdentifier(current['username']!)} RENAME TO ${c.escapeIdentifier(odd)}`),
    );
    const renamed = { ...current, username: odd };
    const next = await rotator.generate(ref, renamed);
    const input = io(ref, renamed, next);
    await rotator.apply(input);
    await rotator.verify(input);
    await rotator.verifyOldRefused!(input);
  });

  it('a role that does not exist is a RotationError, not a created role', async () => {
    const rotator = createPostgresRotator(
      target({ mode: 'alter-role', host: '127.0.0.1', port: db.port, admin_url: { env: ADMIN_ENV } }),
      { env: { [ADMIN_ENV]: db.url } },
    );
    const { ref, current } = await newRole(db);
    const missing = { ...current, username: `${current['username']}_missing` };
    const next = await rotator.generate(ref, missing);
    const error = (await rotator.apply(io(ref, missing, next)).catch((e: unknown) => e)) as RotationError;
    expect(error).toBeInstanceOf(RotationError);
    expect(error.message).toContain('does not exist');
    expect(error.message).not.toContain(next['password']);
  });

  it('a database that is down is a retryable RotationError naming host:port, with no password in it', async () => {
    const port = await freePort();
    const adminPassword = randomBytes(12).toString('hex');
    const rotator = createPostgresRotator(
      target({ mode: 'alter-role', host: '127.0.0.1', port, admin_url: { env: ADMIN_ENV } }),
      { env: { [ADMIN_ENV]: `postgres://admin:${adminPassword}@127.0.0.1:${port}/postgres` } },
    );
    expect(rotator.targetOf({ tenant: 't', kind: 'postgres', path: 'p' }, {})).toBe(
      `postgres:127.0.0.1:${port}`,
    );
    const { ref, current } = await newRole(db);
    const next = await rotator.generate(ref, current);
    for (const phase of ['apply', 'verify', 'rollback'] as const) {
      const error = (await rotator[phase](io(ref, current, next)).catch((e: unknown) => e)) as RotationError;
      expect(error).toBeInstanceOf(RotationError);
      expect(error.message).toContain(`127.0.0.1:${port}`);
      expect(error.message).toContain('ECONNREFUSED');
      expect(error.message).toContain(ref.tenant);
      expect(error.retryable).toBe(true);
      for (const secret of [next['password']!, current['password']!, adminPassword])
        expect(error.message).not.toContain(secret);
    }
  });

  it('a non-ASCII old password (SASLprep applies) is restored by rollback and logs in again', async () => {
    const rotator = createPostgresRotator(
      target({ mode: 'alter-role', host: '127.0.0.1', port: db.port, admin_url: { env: ADMIN_ENV } }),
      { env: { [ADMIN_ENV]: db.url } },
    );
    const { ref, current: seeded } = await newRole(db);
    const current: SecretData = { ...seeded, password: `pässwort-ü-${randomBytes(4).toString('hex')}` };
    await asSuperuser(db, (c) =>
      c.query(
        `ALTER ROLE ${c.escapeIdentifier(current['username']!)} PASSWORD ${c.escapeLiteral(current['password']!)}`,
      ),
    );
    expect(await scramVerifier(current['password']!)).toBe(current['password']);
    const next = await rotator.generate(ref, current);
    const input = io(ref, current, next);
    await rotator.apply(input);
    expect(await canLogin(db, current)).toBe(false);
    await rotator.rollback(input);
    expect(await canLogin(db, current)).toBe(true);
    expect(await canLogin(db, next)).toBe(false);
  });
});

describe('postgres rotator (vault-database) against real OpenBao and PostgreSQL', () => {
  let db: TestPostgres;
  let lab: TestLab;
  let vault: VaultClient;

  beforeAll(async () => {
    db = await startPostgres();
    await createDatabase(db);
    lab = await startTestLab({ nodes: 1, tenants: 1 });
    vault = lab.client();
    // postgresql-database-plugin is built into OpenBao 2.7's bao binary: no plugin registration.
    await vault.enableMount('database', { type: 'database' });
    await vault.write('database/config/tenants-db', {
      plugin_name: 'postgresql-database-plugin',
      connection_url: `postgresql://{{username}}:{{password}}@127.0.0.1:${db.port}/postgres?sslmode=disable`,
      username: db.superuser,
      password: db.password,
      allowed_roles: '*',
      verify_connection: true,
    });
  });
  afterAll(async () => {
    await lab?.stop();
    await db?.stop();
  });

  /** A role handed to the engine as a static role (named after the tenant): it sets its own password at once. */
  async function staticRole(): Promise<{ ref: SecretRef; current: SecretData }> {
    const { ref, current } = await newRole(db);
    await vault.write(`database/static-roles/${ref.tenant}`, {
      db_name: 'tenants-db',
      username: current['username'],
      rotation_period: '24h',
    });
    const creds = await vault.read<{ password: string }>(`database/static-creds/${ref.tenant}`);
    return { ref, current: { ...current, password: creds.data.password } };
  }

  const rotator = () =>
    createPostgresRotator(target({ mode: 'vault-database', host: '127.0.0.1', port: db.port }), { vault });

  it('generate rotates the static role; the new password logs in, the old one is refused', async () => {
    const { ref, current } = await staticRole();
    expect(await canLogin(db, current)).toBe(true);
    const r = rotator();
    expect(r.targetOf(ref, current)).toBe(`postgres:127.0.0.1:${db.port}`);
    const next = await r.generate(ref, current);
    expect(next['password']).not.toBe(current['password']);
    expect({ ...next, password: '' }).toEqual({ ...current, password: '' });
    const creds = await vault.read<{ password: string }>(`database/static-creds/${ref.tenant}`);
    expect(creds.data.password).toBe(next['password']);
    const input = io(ref, current, next);
    await r.apply(input);
    await r.verify(input);
    await r.finalize(input);
    await r.verifyOldRefused!(input);
    expect(await canLogin(db, next)).toBe(true);
    expect(await canLogin(db, current)).toBe(false);
  });

  it('generate again (a resumed rotation) rotates once more and the latest value is the one that works', async () => {
    const { ref, current } = await staticRole();
    const r = rotator();
    const first = await r.generate(ref, current);
    const second = await r.generate(ref, current);
    expect(second['password']).not.toBe(first['password']);
    await r.verify(io(ref, current, second));
    expect(await canLogin(db, first)).toBe(false);
  });

  it('verify fails without the value when the database does not know it; rollback says it cannot restore', async () => {
    const { ref, current } = await staticRole();
    const r = rotator();
    const bogus = { ...current, password: randomBytes(16).toString('hex') };
    const error = (await r.verify(io(ref, current, bogus)).catch((e: unknown) => e)) as RotationError;
    expect(error).toBeInstanceOf(RotationError);
    expect(error.message).toContain(ref.tenant);
    expect(error.message).not.toContain(bogus['password']);
    const rollback = (await r.rollback(io(ref, current, bogus)).catch((e: unknown) => e)) as RotationError;
    expect(rollback).toBeInstanceOf(RotationError);
    expect(rollback.message).toContain(`database/static-creds/${ref.tenant}`);
    expect(await canLogin(db, current)).toBe(true);
  });

  it('a static role the engine does not know is a RotationError naming the path', async () => {
    const { ref, current } = await newRole(db);
    const error = (await rotator()
      .generate(ref, current)
      .catch((e: unknown) => e)) as RotationError;
    expect(error).toBeInstanceOf(RotationError);
    expect(error.message).toContain(`database/rotate-role/${ref.tenant}`);
    expect(error.message).not.toContain(current['password']);
  });
});
