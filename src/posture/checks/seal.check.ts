import type { PostureCheck, PostureContext, PostureFinding } from '../check.js';
import { refusal } from '../refusal.js';

const check = { id: 'seal', area: 'seal' } as const;
const raised = { check: check.id, area: check.area } as const;

/** A Shamir threshold below this lets too few people unseal (or rebuild the root key) alone. */
const MIN_THRESHOLD = 3;

/** Shamir shares and threshold, the seal type, and the age of the barrier keyring's current term. */
export const sealCheck: PostureCheck = {
  ...check,
  title: 'seal type, Shamir shares and threshold, keyring age',
  async run(ctx) {
    const [seal, keyring] = await Promise.all([sealFindings(ctx), keyringFindings(ctx)]);
    return [...seal, ...keyring];
  },
};

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
      why: 'each restart waits for key holders; an auto-unseal (transit, KMS, HSM) keeps shares for recovery only',
      fix: 'seal "transit" { address = "https://transit.example:8200" key_name = "autounseal" mount_path = "transit/" }  # then bao operator unseal -migrate',
    });
  return findings;
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
