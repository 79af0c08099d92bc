import { mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { decrypt, generateKey, readMessage, readPrivateKey } from 'openpgp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { labClient } from '../../src/lab/lab.service.js';
import { labFilePath, readLabFile } from '../../src/lab/lab-file.js';
import { labKeyHolders } from '../../src/lab/lab-site.js';
import type { Logger } from '../../src/logging/logger.js';
import { createLogger } from '../../src/logging/logger.js';
import type { StepContext } from '../../src/playbook/step.js';
import { readKeySharesFile } from '../../src/respond/key-shares.js';
import { createKeyCustody } from '../../src/respond/new-keys.js';
import { rekeyStep, type RekeyStepDeps } from '../../src/respond/steps/rekey.step.js';
import { waitFor } from '../../src/util/wait.js';
import type { VaultClient } from '../../src/vault/client.js';
import { PermissionDeniedError } from '../../src/vault/errors.js';
import { startTestLab, type TestLab } from '../harness/bao-lab.js';

/**
 * The rekey step against a real 3-node OpenBao cluster: outcomes are checked in the server (a
 * sealed node refuses the old shares and accepts the new ones, the old root token is refused, the
 * keyring term went up) and every log line, progress line and outcome is scanned for the secrets.
 */
describe('rekey step on a real 3-node OpenBao cluster', () => {
  let lab: TestLab;
  let work: string;
  const logText: string[] = [];
  const progress: string[] = [];
  const outcomes: unknown[] = [];
  let logger: Logger;
  const clients: VaultClient[] = [];

  beforeAll(async () => {
    lab = await startTestLab({ nodes: 3, tenants: 2 });
    work = mkdtempSync(join(tmpdir(), 'sealwatch-rekey-'));
    const sink = new Writable({
      write(chunk: Buffer, _enc, done) {
        logText.push(chunk.toString());
        done();
      },
    });
    logger = createLogger({ level: 'trace', destination: sink });
  });
  afterAll(async () => {
    await Promise.all(clients.map((c) => c.close().catch(() => undefined)));
    await lab?.stop();
    rmSync(work, { recursive: true, force: true });
  });

  const client = (token = lab.lab().root_token) => {
    const c = labClient(lab.lab().nodes, token, logger);
    clients.push(c);
    return c;
  };
  const context = (incidentId: string): StepContext<Record<string, unknown>> => ({
    incidentId,
    logger,
    signal: new AbortController().signal,
    outputs: {},
    options: {},
    progress: (m) => progress.push(m),
  });
  const step = (deps: Partial<RekeyStepDeps> & Pick<RekeyStepDeps, 'vault' | 'currentShares'>) =>
    rekeyStep({ custody: createKeyCustody(), ...deps });
  const nothingInProgress = async (vault: VaultClient) => {
    expect((await vault.rekeyStatus()).started).toBe(false);
    expect((await vault.generateRootStatus()).started).toBe(false);
  };

  it('refuses too few shares before anything starts', async () => {
    const vault = client();
    const keys = lab.lab().unseal_keys;
    const error = await step({ vault, currentShares: keys.slice(0, 2), newKeysOut: join(work, 'x.json') })
      .run(context('inc-few'))
      .catch((e: Error) => e);
    expect(error).toBeInstanceOf(Error);
    expect((error as Error).message).toBe('2 current unseal key share(s) given, the threshold is 3');
    await nothingInProgress(vault);
  });

  it('a wrong share: the server error, the attempt cancelled, nothing changed', async () => {
    const vault = client();
    const keys = lab.lab().unseal_keys;
    const term = (await vault.keyStatus()).term;
    const error = await step({
      vault,
      currentShares: [keys[0]!, keys[1]!, 'ab'.repeat(33)],
      newKeysOut: join(work, 'wrong.json'),
    })
      .run(context('inc-wrong'))
      .catch((e: Error) => e);
    expect((error as Error).message).toMatch(
      /server refused the current unseal key shares \(.*invalid ?key/i,
    );
    expect((error as Error).message).toMatch(/rekey attempt was cancelled and nothing changed/);
    expect((error as Error).message).not.toContain('\n');
    await nothingInProgress(vault);
    expect((await vault.keyStatus()).term).toBe(term);
    expect(() => statSync(join(work, 'wrong.json'))).toThrow();
  });

  it('a PGP key that does not parse: one line naming the file, nothing changed', async () => {
    const vault = client();
    const dir = join(work, 'bad-keys');
    mkdirSync(dir);
    const good = await generateKey({ userIDs: [{ name: 'holder' }], format: 'armored' });
    writeFileSync(join(dir, 'a.asc'), good.publicKey);
    writeFileSync(
      join(dir, 'b.asc'),
      '-----BEGIN PGP PUBLIC KEY BLOCK-----\n\nnot a key\n-----END PGP PUBLIC KEY BLOCK-----\n',
    );
    const error = await step({ vault, currentShares: lab.lab().unseal_keys, pgpKeysDir: dir })
      .run(context('inc-pgp-bad'))
      .catch((e: Error) => e);
    expect((error as Error).message).toMatch(
      new RegExp(`^--pgp-keys ${join(dir, 'b.asc')} is not a PGP public key: [^\\n]+$`),
    );
    await nothingInProgress(vault);
  });

  let newKeysOut: string;
  let oldShares: string[];
  let oldRoot: string;

  it('rekeys, rotates the keyring, replaces the root token; old shares and token refused, new ones work', async () => {
    const before = lab.lab();
    oldShares = before.unseal_keys;
    oldRoot = before.root_token;
    const vault = client();
    const term = (await vault.keyStatus()).term;
    newKeysOut = join(work, 'new-keys.json');
    const custody = createKeyCustody();
    const rekey = rekeyStep({
      vault,
      currentShares: oldShares,
      newKeysOut,
      keyHolders: labKeyHolders(labFilePath(lab.dir)),
      custody,
    });
    const ctx = context('inc-1');
    const plan = await rekey.plan(ctx);
    expect(plan[0]?.details).toMatchObject({ target: 'unseal', key_shares: 5, key_threshold: 3 });
    const outcome = await rekey.run(ctx);
    outcomes.push(outcome);
    expect(outcome.evidence).toMatchObject({
      target: 'unseal',
      key_shares: 5,
      key_threshold: 3,
      keyring_term_before: term,
      keyring_term_after: term + 1,
    });
    expect(outcome.evidence['old_root_tokens_revoked']).toBeGreaterThanOrEqual(1);

    expect(statSync(newKeysOut).mode & 0o777).toBe(0o600);
    const written = JSON.parse(readFileSync(newKeysOut, 'utf8')) as {
      unseal_keys: string[];
      root_token: string;
    };
    expect(written.unseal_keys).toHaveLength(5);
    expect(written.unseal_keys.some((k) => oldShares.includes(k))).toBe(false);
    expect(custody.current()?.shares).toEqual(written.unseal_keys);
    expect(custody.current()?.rootToken).toBe(written.root_token);
    // the lab file follows, so lab up/down keep working
    expect(readLabFile(lab.dir)).toMatchObject({
      unseal_keys: written.unseal_keys,
      root_token: written.root_token,
    });
    expect(statSync(labFilePath(lab.dir)).mode & 0o777).toBe(0o600);

    // the old root token is refused, the new one works
    await expect(vault.tokenLookupSelf(oldRoot)).rejects.toBeInstanceOf(PermissionDeniedError);
    expect((await client(written.root_token).tokenLookupSelf()).policies).toEqual(['root']);
    expect((await vault.keyStatus()).term).toBe(term + 1);

    // verify: a standby sealed, the old shares refused, the new ones unseal it and it rejoins
    const verified = await rekey.verify!(ctx, outcome);
    outcomes.push(verified);
    expect(verified.ok).toBe(true);
    expect(verified.evidence).toMatchObject({
      previous_root_token_refused: true,
      old_shares_refused: true,
      new_shares_unsealed: true,
      new_root_token_works: true,
    });
    const health = await Promise.all(lab.lab().nodes.map((n) => vault.health(n.address)));
    expect(health.every((h) => !h.sealed)).toBe(true);
  });

  it('a resumed incident never rekeys twice: the old shares are sent back to the new-keys file, which resumes it', async () => {
    const vault = client();
    const stale = await step({ vault, currentShares: oldShares, newKeysOut })
      .run(context('inc-1'))
      .catch((e: Error) => e);
    expect((stale as Error).message).toBe(
      `the rekey of incident inc-1 already completed in an earlier run: its new shares are in ${newKeysOut}; resume with --unseal-keys-file ${newKeysOut}`,
    );
    await nothingInProgress(vault);
    // another incident with the old shares: the server's refusal, explained
    const other = await step({ vault, currentShares: oldShares, newKeysOut: join(work, 'other.json') })
      .run(context('inc-2'))
      .catch((e: Error) => e);
    expect((other as Error).message).toMatch(/refused the current unseal key shares.*no longer valid/);
    await nothingInProgress(vault);

    const shares = readKeySharesFile(newKeysOut, { minimum: 3 });
    const resumed = await step({ vault, currentShares: shares, newKeysOut }).run(context('inc-1'));
    outcomes.push(resumed);
    expect(resumed.evidence['rekey_resumed']).toBe(true);
    expect((JSON.parse(readFileSync(newKeysOut, 'utf8')) as { unseal_keys: string[] }).unseal_keys).toEqual(
      shares,
    );
  });

  it('with --pgp-keys the shares come back encrypted to each holder and decrypt to shares that unseal', async () => {
    const current = lab.lab();
    const vault = client(current.root_token);
    const dir = join(work, 'holders');
    mkdirSync(dir);
    const holders = await Promise.all(
      ['alice', 'bob', 'carol'].map(async (name) => {
        const key = await generateKey({
          userIDs: [{ name, email: `${name}@example.test` }],
          format: 'armored',
        });
        writeFileSync(join(dir, `${name}.asc`), key.publicKey);
        return { name, privateKey: await readPrivateKey({ armoredKey: key.privateKey }) };
      }),
    );
    const revealed: string[] = [];
    const custody = createKeyCustody();
    const rekey = rekeyStep({
      vault,
      currentShares: current.unseal_keys,
      pgpKeysDir: dir,
      keyThreshold: 2,
      custody,
      reveal: async (secret) => void revealed.push(...secret.values),
    });
    const outcome = await rekey.run(context('inc-pgp'));
    outcomes.push(outcome);
    const fingerprints = holders.map((h) => h.privateKey.getFingerprint().toLowerCase());
    expect(outcome.evidence).toMatchObject({
      key_shares: 3,
      key_threshold: 2,
      pgp_fingerprints: fingerprints,
    });
    const material = custody.current()!;
    expect(material.shares).toEqual([]);
    expect(material.encryptedShares).toHaveLength(3);
    expect(revealed).toEqual([material.rootToken]);

    const decrypted = await Promise.all(
      material.encryptedShares.map(async (b64, i) => {
        const message = await readMessage({ binaryMessage: Buffer.from(b64, 'base64') });
        const { data } = await decrypt({ message, decryptionKeys: holders[i]!.privateKey, format: 'binary' });
        const bytes = Buffer.from(data as Uint8Array);
        return bytes.toString('utf8').trim();
      }),
    );
    // each holder decrypts a hex share, like the clear shares
    expect(decrypted.every((s) => /^[0-9a-f]{66}$/.test(s))).toBe(true);
    // a holder's share decrypts only with that holder's key
    const wrong = await readMessage({ binaryMessage: Buffer.from(material.encryptedShares[0]!, 'base64') });
    await expect(decrypt({ message: wrong, decryptionKeys: holders[1]!.privateKey })).rejects.toThrow();

    vault.setToken(material.rootToken);
    const standby = (await Promise.all(current.nodes.map((n) => vault.health(n.address)))).find(
      (h) => h.standby,
    )!;
    await vault.seal(standby.node);
    // A sealed standby still reports the seal configuration it cached before the rekey (t=3 here,
    // OpenBao 2.7.2), so it takes one more share than the new threshold; any 3 of them unseal it.
    let status = await vault.unseal(standby.node, decrypted[0]!);
    status = await vault.unseal(standby.node, decrypted[2]!);
    if (status.sealed) status = await vault.unseal(standby.node, decrypted[1]!);
    expect(status.sealed).toBe(false);
    await waitFor('the standby to rejoin', async () => (await vault.health(standby.node)).standby, {
      timeoutMs: 60_000,
      intervalMs: 200,
    });
  });

  it('no share, root token or OTP in logs, progress or outcomes', () => {
    const secrets = [
      ...oldShares,
      oldRoot,
      ...(JSON.parse(readFileSync(newKeysOut, 'utf8')) as { unseal_keys: string[] }).unseal_keys,
      lab.lab().root_token,
    ];
    const haystack = [...logText, ...progress, JSON.stringify(outcomes)].join('\n');
    expect(logText.length).toBeGreaterThan(0);
    for (const secret of secrets) expect(haystack).not.toContain(secret);
  });
});
