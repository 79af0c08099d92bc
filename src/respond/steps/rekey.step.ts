import pLimit from 'p-limit';
import { SealwatchError, UsageError, errorMessage } from '../../errors.js';
import type { KeyHolders } from '../../playbook/site.js';
import type { PlanEntry, Step, StepContext, StepOutcome, VerifyOutcome } from '../../playbook/step.js';
import { waitFor } from '../../util/wait.js';
import type { VaultClient } from '../../vault/client.js';
import { NotFoundError, PermissionDeniedError, VaultError } from '../../vault/errors.js';
import { decodeRootToken } from '../../vault/server-info.js';
import type { SealStatus } from '../../vault/types.js';
import { loadHolderKeys, type HolderKey } from '../pgp-keys.js';
import {
  assertNewKeysFileAbsent,
  createNewKeysFile,
  readNewKeysFile,
  updateNewKeysFile,
  type KeyCustody,
  type NewKeyMaterial,
} from '../new-keys.js';

export class RekeyError extends SealwatchError {
  constructor(message: string, options: ConstructorParameters<typeof SealwatchError>[2] = {}) {
    super('rekey_failed', message, options);
  }
}

export interface RekeyStepDeps {
  vault: VaultClient;
  /** A threshold (or more) of the current unseal/recovery shares (src/respond/key-shares.ts). */
  currentShares: readonly string[];
  /** New share count and threshold; default 5/3. With `pgpKeysDir` the number of keys sets the count. */
  keyShares?: number;
  keyThreshold?: number;
  /** A directory of key holders' public keys (*.asc, *.gpg): each new share is encrypted to one. */
  pgpKeysDir?: string;
  /** Where the new shares and root token are written once (0600, never overwritten). */
  newKeysOut?: string;
  /**
   * Shows a secret on the operator's terminal (after the operator confirmed); the CLI wires it. Used
   * only when there is no `newKeysOut` (for the shares: no `pgpKeysDir` either).
   */
  reveal?: (secret: { what: 'unseal_keys' | 'root_token'; values: readonly string[] }) => Promise<void>;
  /** Key holders this host keeps (a lab's lab.json): they get the new unseal keys and root token. */
  keyHolders?: Pick<KeyHolders, 'recordNewKeys'>;
  /** The new shares and root token, in memory, for the recover step and the composition root. */
  custody: KeyCustody;
  /** Seal one node and unseal it with old then new shares in verify(); default: multi-node only. */
  verifySealUnseal?: boolean;
}

export interface RekeyStepOptions {
  verifySealUnseal?: boolean;
}

const DEFAULT_SHARES = 5;
const DEFAULT_THRESHOLD = 3;
const INVALID_KEY = /invalid key|message authentication failed|failed to verify|failed to decrypt/i;

/**
 * "Rekey (15–30 min)": new Shamir shares (or recovery keys on auto-unseal), barrier key rotated, a
 * new root token generated and every older root token revoked. The shares only ever go to the
 * new-keys file, the terminal, the PGP key holders and the in-memory custody.
 *
 * Resume: a rekey that completed cannot be repeated with the old shares (the server refuses them
 * as an invalid key). The step says so; with the new-keys file of the same incident as
 * `--unseal-keys-file` it skips the rekey and finishes the rest (keyring, root token, revocation).
 */
export function rekeyStep(deps: RekeyStepDeps): Step<RekeyStepOptions & Record<string, unknown>> {
  const vault = deps.vault;
  /** The token sealwatch ran with before the rotation, kept in memory to prove it is refused. */
  let previousRootToken: string | undefined;

  const sizes = (holders: HolderKey[] | undefined) => {
    const keyShares = holders?.length ?? deps.keyShares ?? DEFAULT_SHARES;
    const keyThreshold = deps.keyThreshold ?? Math.min(DEFAULT_THRESHOLD, keyShares);
    if (keyThreshold < 1 || keyThreshold > keyShares)
      throw new UsageError(
        `key threshold ${keyThreshold} must be between 1 and the share count ${keyShares}`,
      );
    if (keyShares > 1 && keyThreshold < 2)
      throw new UsageError(`key threshold must be at least 2 when there are ${keyShares} shares`);
    return { keyShares, keyThreshold };
  };

  const preflight = async (ctx: StepContext<RekeyStepOptions>) => {
    // Everything that can be refused locally is refused before the server is asked to change anything.
    const holders = deps.pgpKeysDir ? await loadHolderKeys(deps.pgpKeysDir) : undefined;
    const { keyShares, keyThreshold } = sizes(holders);
    // Key holders on this host are a destination too (a lab's lab.json: it holds every share in clear).
    if (!holders && !deps.newKeysOut && !deps.reveal && !deps.keyHolders)
      throw new UsageError(
        'the new shares need a destination: give --new-keys-out FILE or --pgp-keys DIR, or confirm showing them on the terminal',
      );
    const seal = await vault.sealStatus();
    const target: 'unseal' | 'recovery' =
      seal.recovery_seal || seal.type !== 'shamir' ? 'recovery' : 'unseal';
    if (deps.currentShares.length < seal.t)
      throw new UsageError(
        `${deps.currentShares.length} current ${target} key share(s) given, the threshold is ${seal.t}`,
      );
    const earlier = deps.newKeysOut ? readNewKeysFile(deps.newKeysOut) : undefined;
    const resumed =
      earlier !== undefined &&
      earlier.incidentId === ctx.incidentId &&
      earlier.shares.length > 0 &&
      deps.currentShares.every((s) => earlier.shares.includes(s));
    if (deps.newKeysOut && !resumed) {
      if (earlier?.incidentId === ctx.incidentId)
        throw new RekeyError(
          `the rekey of incident ${ctx.incidentId} already completed in an earlier run: its new shares are in ${deps.newKeysOut}; resume with --unseal-keys-file ${deps.newKeysOut}`,
        );
      assertNewKeysFileAbsent(deps.newKeysOut);
    }
    return { holders, keyShares, keyThreshold, seal, target, earlier: resumed ? earlier : undefined };
  };

  const persist = async (material: NewKeyMaterial, phase: 'shares' | 'root') => {
    deps.custody.hand(material);
    if (deps.newKeysOut) {
      if (phase === 'shares') createNewKeysFile(deps.newKeysOut, material);
      else updateNewKeysFile(deps.newKeysOut, material);
    } else if (phase === 'shares' && material.shares.length > 0) {
      await deps.reveal?.({ what: 'unseal_keys', values: material.shares });
    } else if (phase === 'root' && material.rootToken) {
      await deps.reveal?.({ what: 'root_token', values: [material.rootToken] });
    }
    if (deps.keyHolders && material.target === 'unseal')
      deps.keyHolders.recordNewKeys({
        ...(material.shares.length > 0
          ? {
              shares: {
                values: material.shares,
                keyShares: material.keyShares,
                keyThreshold: material.keyThreshold,
              },
            }
          : {}),
        ...(material.rootToken ? { rootToken: material.rootToken } : {}),
      });
  };

  return {
    id: 'rekey',
    title: 'Rekey: new key shares, barrier key rotated, root token replaced',
    targetSeconds: 30 * 60,
    needsApproval: true,

    async plan(ctx): Promise<PlanEntry[]> {
      const p = await preflight(ctx);
      return [
        {
          action: p.earlier
            ? `skip the rekey: incident ${ctx.incidentId} completed it earlier (shares from ${deps.newKeysOut})`
            : `rekey the ${p.target} keys with ${p.seal.t} current shares: ${p.keyShares} new shares, threshold ${p.keyThreshold}`,
          details: {
            target: p.target,
            key_shares: p.keyShares,
            key_threshold: p.keyThreshold,
            pgp_fingerprints: p.holders?.map((h) => h.fingerprint) ?? [],
            new_keys_out: deps.newKeysOut ?? (p.holders ? 'encrypted to the key holders' : 'terminal'),
          },
          destructive: true,
        },
        { action: 'rotate the barrier encryption key (keyring term + 1)', destructive: true },
        {
          action: p.holders
            ? 'generate a new root token with the current shares (the new ones are encrypted to their holders)'
            : 'generate a new root token with the new shares',
          destructive: true,
        },
        {
          action: 'revoke every other token with the root policy (including the one sealwatch ran with)',
          destructive: true,
        },
      ];
    },

    async run(ctx): Promise<StepOutcome> {
      const p = await preflight(ctx);
      const self = await vault.tokenLookupSelf();
      if (self.policies.includes('root')) previousRootToken = self.id;

      let material: NewKeyMaterial;
      if (p.earlier) {
        ctx.progress(
          `rekey already completed for incident ${ctx.incidentId}; continuing with the shares of ${deps.newKeysOut}`,
        );
        material = p.earlier;
        deps.custody.hand(material);
      } else {
        // With PGP the new shares are unreadable here, so the root token comes from the current shares.
        let earlyRoot: GeneratedRoot | undefined;
        if (p.holders)
          earlyRoot = await generatedRoot(
            vault,
            await generateRoot(vault, deps.currentShares.slice(0, p.seal.t)),
          );
        try {
          material = await rekey(ctx, p);
        } catch (error) {
          if (earlyRoot) await revokeUnusedRoot(vault, earlyRoot, error);
          throw error;
        }
        if (earlyRoot) material.rootToken = earlyRoot.token;
        await persist(material, 'shares');
      }

      const before = (await vault.keyStatus()).term;
      await vault.rotateKeyring();
      const after = (await vault.keyStatus()).term;
      ctx.progress(`barrier key rotated: keyring term ${before} → ${after}`);

      if (!material.rootToken || !(await tokenWorks(vault, material.rootToken))) {
        const shares = material.shares.slice(0, material.keyThreshold);
        if (shares.length < material.keyThreshold)
          throw new RekeyError(
            'the new root token cannot be generated: the new shares are encrypted to their holders (run generate-root with them)',
          );
        material = { ...material, rootToken: await generateRoot(vault, shares) };
      }
      await persist(material, 'root');
      vault.setToken(material.rootToken);
      const revoked = await revokeOtherRootTokens(vault);
      ctx.progress(`new root token in use; ${revoked} older root token(s) revoked`);

      const evidence = {
        target: material.target,
        key_shares: material.keyShares,
        key_threshold: material.keyThreshold,
        pgp_fingerprints: material.pgpFingerprints,
        keyring_term_before: before,
        keyring_term_after: after,
        old_root_tokens_revoked: revoked,
        new_keys: deps.newKeysOut
          ? `written to ${deps.newKeysOut}`
          : material.encryptedShares.length > 0
            ? 'encrypted to the key holders'
            : 'shown on the terminal',
        rekey_resumed: p.earlier !== undefined,
      };
      ctx.logger.info({ step: 'rekey', ...evidence }, 'rekey completed');
      return { evidence, outputs: { ...evidence } };
    },

    async verify(ctx, outcome): Promise<VerifyOutcome> {
      const evidence: Record<string, unknown> = {};
      let ok = true;
      const term = (await vault.keyStatus()).term;
      evidence['keyring_term'] = term;
      if (
        typeof outcome.evidence['keyring_term_after'] === 'number' &&
        term < outcome.evidence['keyring_term_after']
      )
        ok = false;
      const self = await vault.tokenLookupSelf();
      evidence['new_root_token_works'] = self.policies.includes('root');
      ok &&= self.policies.includes('root');
      if (previousRootToken && previousRootToken !== self.id) {
        const refused = await vault.tokenLookupSelf(previousRootToken).then(
          () => false,
          (error: unknown) => error instanceof PermissionDeniedError,
        );
        evidence['previous_root_token_refused'] = refused;
        ok &&= refused;
      }

      const material =
        deps.custody.current() ?? (deps.newKeysOut ? readNewKeysFile(deps.newKeysOut) : undefined);
      const health = await Promise.all(vault.addresses.map((node) => vault.health(node)));
      const multi = health.length > 1;
      const wanted = deps.verifySealUnseal ?? ctx.options.verifySealUnseal ?? multi;
      if (!wanted) evidence['seal_unseal'] = 'skipped (single node; set verifySealUnseal to seal it)';
      else if (!material || material.target !== 'unseal' || material.shares.length < material.keyThreshold)
        evidence['seal_unseal'] =
          'skipped (the new shares are not readable here, or the seal is auto-unseal)';
      else {
        const node = multi
          ? health.find((h) => h.standby && !h.sealed)?.node
          : health.find((h) => !h.sealed)?.node;
        if (!node) {
          evidence['seal_unseal'] = 'no unsealed standby node to test on';
          ok = false;
        } else {
          const result = await sealUnsealProof(vault, node, deps.currentShares, material, multi);
          Object.assign(evidence, { seal_unseal_node: node, ...result });
          ok &&= result.old_shares_refused && result.new_shares_unsealed;
        }
      }
      return { ok, evidence };
    },
  };

  async function rekey(
    ctx: StepContext<RekeyStepOptions>,
    p: Awaited<ReturnType<typeof preflight>>,
  ): Promise<NewKeyMaterial> {
    const status = await vault.rekeyStatus(p.target);
    if (status.started) {
      // Its nonce and progress belong to a run that stopped; starting clean is the only safe path.
      ctx.progress('cancelling a rekey attempt left over from an interrupted run');
      await vault.rekeyCancel(p.target);
    }
    const init = await vault.rekeyInit(
      {
        secret_shares: p.keyShares,
        secret_threshold: p.keyThreshold,
        ...(p.holders ? { pgp_keys: p.holders.map((h) => h.base64) } : {}),
      },
      p.target,
    );
    ctx.progress(`rekey started (${p.target}); submitting ${p.seal.t} current shares`);
    let result;
    try {
      for (const share of deps.currentShares.slice(0, p.seal.t)) {
        result = await vault.rekeyUpdate(share, init.nonce, p.target);
        if (result.complete) break;
      }
      if (!result?.complete)
        throw new RekeyError(
          `the rekey did not complete after ${p.seal.t} shares (server progress ${result?.progress ?? 0})`,
        );
    } catch (error) {
      const cancelled = await vault.rekeyCancel(p.target).then(
        () => 'the rekey attempt was cancelled',
        (cancelError: unknown) =>
          `cancelling the rekey attempt failed too (${errorMessage(cancelError)}; the next run cancels it first)`,
      );
      const reason = error instanceof VaultError ? serverReason(error) : errorMessage(error);
      if (INVALID_KEY.test(reason))
        throw new RekeyError(
          `the server refused the current ${p.target} key shares (${reason}); ${cancelled} and nothing changed. ` +
            `If an earlier run of incident ${ctx.incidentId} completed the rekey, these shares are no longer valid: resume with the new shares it wrote${deps.newKeysOut ? ` (--unseal-keys-file ${deps.newKeysOut})` : ''}`,
          { cause: error },
        );
      throw new RekeyError(`rekey failed: ${reason}; ${cancelled} and nothing changed`, {
        cause: error,
      });
    }
    const fingerprints = result.pgp_fingerprints ?? [];
    return {
      incidentId: ctx.incidentId,
      target: p.target,
      keyShares: p.keyShares,
      keyThreshold: p.keyThreshold,
      shares: p.holders ? [] : (result.keys ?? []),
      encryptedShares: p.holders ? (result.keys_base64 ?? []) : [],
      pgpFingerprints: fingerprints,
    };
  }
}

function serverReason(error: VaultError): string {
  return error.serverErrors.length > 0 ? `${error.serverErrors.join('; ')} (${error.node})` : error.message;
}

async function tokenWorks(vault: VaultClient, token: string): Promise<boolean> {
  try {
    return (await vault.tokenLookupSelf(token)).policies.includes('root');
  } catch {
    // A token the server refuses (revoked, expired, unknown) does not work: a new root is generated.
    return false;
  }
}

/** generate-root-token with a one-time password; any failure cancels the attempt. */
async function generateRoot(vault: VaultClient, shares: readonly string[]): Promise<string> {
  const status = await vault.generateRootStatus();
  if (status.started) await vault.generateRootCancel();
  const attempt = await vault.generateRootInit();
  try {
    let progress = attempt;
    for (const share of shares) {
      progress = await vault.generateRootUpdate(share, attempt.nonce);
      if (progress.complete) break;
    }
    const encoded = progress.encoded_token ?? progress.encoded_root_token;
    if (!progress.complete || !encoded || !attempt.otp)
      throw new RekeyError(`root token generation did not complete after ${shares.length} shares`);
    return decodeRootToken(encoded, attempt.otp);
  } catch (error) {
    const cancelled = await vault.generateRootCancel().then(
      () => 'the attempt was cancelled',
      (cancelError: unknown) =>
        `cancelling the attempt failed too (${errorMessage(cancelError)}; the next run cancels it first)`,
    );
    if (error instanceof RekeyError) throw new RekeyError(`${error.message}; ${cancelled}`, { cause: error });
    const reason = error instanceof VaultError ? serverReason(error) : errorMessage(error);
    throw new RekeyError(`root token generation failed: ${reason}; ${cancelled}`, {
      cause: error,
    });
  }
}

interface GeneratedRoot {
  token: string;
  /** What an operator (and every message) names the token by: the accessor, never the token. */
  accessor: string;
}

/** A freshly generated root token with its accessor; one that cannot be looked up is revoked at once. */
async function generatedRoot(vault: VaultClient, token: string): Promise<GeneratedRoot> {
  try {
    return { token, accessor: (await vault.tokenLookupSelf(token)).accessor };
  } catch (error) {
    await revokeUnusedRoot(vault, { token, accessor: 'unknown: its lookup failed too' }, error);
    throw error;
  }
}

/**
 * A root token generated for a rekey that then failed must not outlive it. When it cannot be
 * revoked the step fails with both facts and the token's accessor, so the operator revokes it;
 * `incident resume` reruns the step, whose final sweep revokes every other root token too.
 */
async function revokeUnusedRoot(vault: VaultClient, root: GeneratedRoot, failure: unknown): Promise<void> {
  try {
    await vault.tokenRevoke(root.token);
  } catch (revokeError) {
    throw new RekeyError(
      `${errorMessage(failure)}; and the root token generated for this rekey (accessor ${root.accessor}) ` +
        `could not be revoked (${errorMessage(revokeError)}), so it is still valid: revoke it now ` +
        `(bao token revoke -accessor ${root.accessor}), then fix the cause and resume the incident`,
      {
        cause: new AggregateError(
          [failure, revokeError],
          'rekey failed, then revoking its root token failed',
        ),
        details: { root_token_accessor: root.accessor },
      },
    );
  }
}

/** Revokes every token carrying the root policy except the client's own (the new root token). */
async function revokeOtherRootTokens(vault: VaultClient): Promise<number> {
  const own = (await vault.tokenLookupSelf()).accessor;
  const accessors = (await vault.tokenListAccessors()).filter((a) => a !== own);
  const limit = pLimit(8);
  const revoked = await Promise.all(
    accessors.map((accessor) =>
      limit(async () => {
        try {
          const info = await vault.tokenLookupAccessor(accessor);
          if (!info.policies?.includes('root')) return 0;
          await vault.tokenRevokeAccessor(accessor);
          return 1;
        } catch (error) {
          // A token that expired between the list and the lookup is already gone.
          if (error instanceof NotFoundError || /invalid accessor|bad token/i.test(errorMessage(error)))
            return 0;
          throw error;
        }
      }),
    ),
  );
  return revoked.reduce<number>((a, b) => a + b, 0);
}

/**
 * Seals `node`, shows that a threshold of the old shares leaves it sealed, then unseals it with
 * the new shares and waits until it is back (standby again, or active on a single node).
 */
async function sealUnsealProof(
  vault: VaultClient,
  node: string,
  oldShares: readonly string[],
  material: Pick<NewKeyMaterial, 'shares' | 'keyThreshold'>,
  multi: boolean,
): Promise<{ old_shares_refused: boolean; old_share_error?: string; new_shares_unsealed: boolean }> {
  await vault.seal(node);
  await waitFor(`${node} to be sealed`, async () => (await vault.sealStatus(node)).sealed, {
    timeoutMs: 30_000,
    intervalMs: 100,
  });
  let status: SealStatus | undefined;
  let oldError: string | undefined;
  const oldThreshold = (await vault.sealStatus(node)).t;
  for (const share of oldShares.slice(0, oldThreshold)) {
    try {
      status = await vault.unseal(node, share);
    } catch (error) {
      oldError = error instanceof VaultError ? serverReason(error) : errorMessage(error);
      break;
    }
  }
  const oldRefused = (await vault.sealStatus(node)).sealed;
  await vault.unsealReset(node);
  // A sealed standby may still report the seal configuration it cached before the rekey (OpenBao
  // 2.7.2): when the threshold went down it asks for more shares than the new threshold. Any
  // number of shares at or above the threshold unseals, so the shares are offered until it opens.
  for (const share of material.shares) {
    status = await vault.unseal(node, share);
    if (!status.sealed) break;
  }
  await waitFor(
    `${node} to rejoin after the unseal with the new shares`,
    async () => {
      const h = await vault.health(node);
      return !h.sealed && (multi ? h.standby || h.httpStatus === 200 : h.httpStatus === 200);
    },
    { timeoutMs: 60_000, intervalMs: 200 },
  );
  return {
    old_shares_refused: oldRefused,
    ...(oldError ? { old_share_error: oldError } : {}),
    new_shares_unsealed: status?.sealed === false,
  };
}
