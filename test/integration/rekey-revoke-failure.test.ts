import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { generateKey } from 'openpgp';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { labClient } from '../../src/lab/lab.service.js';
import type { StepContext } from '../../src/playbook/step.js';
import { createKeyCustody } from '../../src/respond/new-keys.js';
import { RekeyError, rekeyStep } from '../../src/respond/steps/rekey.step.js';
import type { VaultClient } from '../../src/vault/client.js';
import { startTestLab, type TestLab } from '../harness/bao-lab.js';

/**
 * With --pgp-keys the rekey step generates a root token before the rekey. When the rekey then
 * fails and that root token cannot be revoked either, the step fails naming the token's accessor
 * (a live root token must never outlive a failed rekey unnoticed). Real one-node OpenBao: the
 * responder's policy allows generate-root-token but neither the rekey nor auth/token/revoke.
 */
describe('rekey step: a generated root token that cannot be revoked fails the step', () => {
  let lab: TestLab;
  let work: string;
  const clients: VaultClient[] = [];
  const logger = pino({ level: 'silent' });

  beforeAll(async () => {
    lab = await startTestLab({ nodes: 1, tenants: 1 });
    work = mkdtempSync(join(tmpdir(), 'sealwatch-rekey-revoke-'));
  });
  afterAll(async () => {
    await Promise.all(clients.map((c) => c.close()));
    await lab?.stop();
    rmSync(work, { recursive: true, force: true });
  });

  const client = (token: string) => {
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
    progress: () => undefined,
  });

  it('fails with the rekey error and the accessor of the root token left alive, never the token', async () => {
    const root = client(lab.lab().root_token);
    await root.writePolicy(
      'responder-no-revoke',
      'path "sys/generate-root-token/*" { capabilities = ["create", "read", "update", "delete", "sudo"] }\n',
    );
    const responder = await root.tokenCreate({ policies: ['responder-no-revoke'], ttl: '10m' });
    const rootsBefore = await rootAccessors(root);

    const holders = join(work, 'holders');
    mkdirSync(holders);
    for (const name of ['alice', 'bob']) {
      const key = await generateKey({
        userIDs: [{ name, email: `${name}@example.test` }],
        format: 'armored',
      });
      writeFileSync(join(holders, `${name}.asc`), key.publicKey);
    }
    const error = await rekeyStep({
      vault: client(responder.client_token),
      currentShares: lab.lab().unseal_keys,
      pgpKeysDir: holders,
      custody: createKeyCustody(),
      reveal: async () => undefined,
    })
      .run(context('inc-revoke-fails'))
      .then(
        () => undefined,
        (e: unknown) => e,
      );

    // the server kept the generated root token: exactly one new root-policy token
    const leftOver = (await rootAccessors(root)).filter((a) => !rootsBefore.includes(a));
    expect(leftOver).toHaveLength(1);
    const accessor = leftOver[0]!;

    expect(error).toBeInstanceOf(RekeyError);
    const failure = error as RekeyError;
    // the rekey's own failure (the responder may not read sys/rotate/root/init) …
    expect(failure.message).toMatch(/permission denied/i);
    expect(failure.message).toContain('sys/rotate/root/init');
    // … and the revocation's, with the accessor, and what to do
    expect(failure.message).toContain(`(accessor ${accessor}) could not be revoked`);
    expect(failure.message).toContain(`bao token revoke -accessor ${accessor}`);
    expect(failure.message).toMatch(/auth\/token\/revoke/);
    expect(failure.details['root_token_accessor']).toBe(accessor);
    expect(failure.cause).toBeInstanceOf(AggregateError);
    expect((failure.cause as AggregateError).errors).toHaveLength(2);
    // never the token itself
    const leftToken = await root.tokenLookupAccessor(accessor);
    expect(leftToken.policies).toContain('root');
    expect(JSON.stringify({ message: failure.message, details: failure.details })).not.toMatch(
      /\b(?:hvs|s)\.[A-Za-z0-9_-]{20,}/,
    );

    // the generate-root attempt was not left half-done, and the operator's revocation works
    expect((await root.generateRootStatus()).started).toBe(false);
    await root.tokenRevokeAccessor(accessor);
    expect(await rootAccessors(root)).toEqual(rootsBefore);
  });
});

async function rootAccessors(vault: VaultClient): Promise<string[]> {
  const accessors = await vault.tokenListAccessors();
  const infos = await Promise.all(
    accessors.map(async (a) => ({ a, info: await vault.tokenLookupAccessor(a) })),
  );
  return infos
    .filter(({ info }) => info.policies?.includes('root'))
    .map(({ a }) => a)
    .sort();
}
