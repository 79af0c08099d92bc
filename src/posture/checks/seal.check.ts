import { VaultError } from '../../vault/errors.js';
import type { SealStatus } from '../../vault/types.js';
import type { PostureCheck, PostureContext, PostureFinding } from '../check.js';
import { refusal } from '../refusal.js';
import { sealBackendHealth } from '../seal-backend.js';
import { sanitizedConfig } from '../server-config.js';

const check = { id: 'seal', area: 'seal' } as const;
const raised = { check: check.id, area: check.area } as const;

/** A Shamir threshold below this lets too few people unseal (or rebuild the root key) alone. */
const MIN_THRESHOLD = 3;

/**
 * Shamir shares and threshold (or recovery keys), the seal type and whether an auto-unseal backend
 * answers, and the age of the barrier keyring's current term.
 */
export const sealCheck: PostureCheck = {
  ...check,
  title: 'seal type, auto-unseal backend, Shamir shares and threshold, keyring age',
  async run(ctx) {
    const [seal, keyring] = await Promise.all([sealFindings(ctx), keyringFindings(ctx)]);
    return [...seal, ...keyring];
  },
};

/** A seal whose key sits beside the server (file, environment or configuration): nothing outside guards it. */
const STATIC_SEALS = new Set(['static']);

async function sealFindings(ctx: PostureContext): Promise<PostureFinding[]> {
  let status;
  try {
    status = await ctx.vault.sealStatus();
  } catch (error) {
    return [refusal(check, 'the seal status', { capability: 'read', path: 'sys/seal-status' }, error)];
  }
  const evidence = {
    type: status.type,
    shares: status.n,
    threshold: status.t,
    recovery_seal: status.recovery_seal,
  };
  const findings: PostureFinding[] = [];
  const keys = status.recovery_seal ? 'recovery keys' : 'unseal keys';
  const rekey = `bao operator rekey -init -key-shares=5 -key-threshold=3${status.recovery_seal ? ' -target=recovery' : ''}`;
  if (status.n === 1 && status.t === 1)
    findings.push({
      id: 'seal:single-share',
      ...raised,
      severity: 'high',
      title: `one ${keys.slice(0, -1)} ${status.recovery_seal ? 'authorises' : 'unseals'} the server (1 of 1)`,
      evidence,
      why: 'whoever holds that one share (or a copy of it) can unseal and generate a root token alone; nobody else can if it is lost',
      fix: rekey,
    });
  else if (status.t < MIN_THRESHOLD)
    findings.push({
      id: 'seal:low-threshold',
      ...raised,
      severity: 'high',
      title: `${status.t} of ${status.n} ${keys} are enough (threshold below ${MIN_THRESHOLD})`,
      evidence,
      why: 'a low threshold lets two colluding or compromised key holders rebuild the root key',
      fix: rekey,
    });
  if (status.type === 'shamir')
    findings.push({
      id: 'seal:shamir',
      ...raised,
      severity: 'info',
      title: 'the server is sealed with Shamir shares held by people (no auto-unseal)',
      evidence,
      why: 'auto-unseal is recommended: each restart of a Shamir server waits for key holders to type their shares on a host that may be compromised, while an auto-unseal (transit, KMIP HSM, cloud KMS) unseals without them, keeps shares as recovery keys only, and a copied disk is useless without the separately guarded backend',
      fix: TRANSIT_STANZA,
    });
  else findings.push(...(await autoUnsealFindings(ctx, status, evidence)));
  return findings;
}

const TRANSIT_STANZA = `seal "transit" {
  address    = "https://transit.example:8200"
  key_name   = "autounseal"
  mount_path = "transit/"
  # token from the environment (VAULT_TOKEN), never in this file
}
# then restart and run: bao operator unseal -migrate  (with the current unseal keys)`;

type SealEvidence = Record<string, unknown>;

/** The auto-unseal in use, a static key beside the server, and whether the backend answers. */
async function autoUnsealFindings(
  ctx: PostureContext,
  status: SealStatus,
  evidence: SealEvidence,
): Promise<PostureFinding[]> {
  const type = status.type;
  const configured = await configuredSeals(ctx);
  const seen = {
    ...evidence,
    recovery_seal_type: status.recovery_seal_type ?? null,
    configured_seals: configured,
  };
  if (STATIC_SEALS.has(type))
    return [
      {
        id: 'seal:static-key',
        ...raised,
        severity: 'medium',
        title: 'the server auto-unseals with a static key kept beside it (static seal)',
        evidence: seen,
        why: 'the key that decrypts the root key is a file, an environment variable or a value of the configuration on the server host: whoever copies the storage and that key reads every secret, and no backend outside the host can refuse or log the unseal',
        fix: `${TRANSIT_STANZA.replace('# then restart', '# or a seal "kmip" stanza towards an HSM; then restart')}
# if the static seal must stay: current_key = "env://BAO_STATIC_SEAL_KEY" injected by another secrets manager, never a file on the storage disk`,
      },
    ];
  const findings: PostureFinding[] = [];
  let backend;
  try {
    backend = await sealBackendHealth(ctx.vault);
  } catch (error) {
    findings.push(
      refusal(
        check,
        `whether the ${type} seal backend answers`,
        { capability: 'read', path: 'sys/metrics' },
        error,
      ),
    );
  }
  findings.push({
    id: 'seal:auto-unseal',
    ...raised,
    severity: 'info',
    title: `the server auto-unseals with the ${type} seal${backend?.state === 'answers' ? ', whose backend answers' : ''}`,
    evidence: { ...seen, backend: backend ?? { state: 'unknown', reason: 'sys/metrics refused' } },
    why: 'auto-unseal is the recommended seal: restarts need no key holders, the recovery keys only authorise rekey and root generation, and the backend guards the root key apart from the server',
    fix: 'nothing to change; keep the backend highly available and its key backed up',
  });
  if (backend?.state === 'unreachable')
    findings.push({
      id: 'seal:backend-unreachable',
      ...raised,
      severity: 'high',
      title: `the ${type} seal backend does not answer the server (its seal health check has failed for ${Math.round(backend.unreachable_ms / 1000)} s)`,
      evidence: { ...seen, unreachable_ms: backend.unreachable_ms, source: backend.source },
      why: 'the server stays unsealed only while it runs: a restart or a new node cannot unseal without the backend, and rekey and seal-wrapping fail until it answers again',
      fix: `restore the ${type} backend the seal stanza names (address or endpoint, key, credentials); the server's log says "seal backend may be unreachable" with the error, and "seal backend is now healthy again" once it answers`,
    });
  else if (backend?.state === 'unknown')
    findings.push({
      id: 'seal:backend-unknown',
      ...raised,
      severity: 'medium',
      title: `could not tell whether the ${type} seal backend answers: ${backend.reason}`,
      evidence: { ...seen, reason: backend.reason },
      why: 'a check that could not look has not shown the backend is there when the server next restarts',
      fix: `telemetry {
  prometheus_retention_time = "24h"
}
# and in the seal "${type}" stanza, to learn sooner: health_check_interval = "1m"`,
    });
  return findings;
}

/** The seals of the running configuration, or null when sealwatch may not read it (the tls check says so). */
async function configuredSeals(ctx: PostureContext) {
  try {
    return (await sanitizedConfig(ctx)).seals ?? [];
  } catch (error) {
    // The type comes from sys/seal-status anyway; a refusal is reported by the checks that need the file.
    if (error instanceof VaultError) return null;
    throw error;
  }
}

async function keyringFindings(ctx: PostureContext): Promise<PostureFinding[]> {
  let key;
  try {
    key = await ctx.vault.keyStatus();
  } catch (error) {
    return [refusal(check, 'the keyring term', { capability: 'read', path: 'sys/key-status' }, error)];
  }
  const installed = Date.parse(key.install_time);
  const max = ctx.config.posture.maxKeyringAgeMs;
  const ageMs = ctx.now.getTime() - installed;
  if (Number.isNaN(installed) || ageMs <= max) return [];
  return [
    {
      id: 'seal:keyring-age',
      ...raised,
      severity: 'medium',
      title: `the barrier key (term ${key.term}) was installed ${Math.floor(ageMs / 86_400_000)} days ago (more than ${max / 86_400_000})`,
      evidence: { term: key.term, install_time: key.install_time, max_keyring_age_ms: max },
      why: 'rotating the barrier key bounds what one leaked encryption key can decrypt; after a compromise it is mandatory',
      fix: 'bao operator rotate',
    },
  ];
}
