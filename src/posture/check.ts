import type { Config } from '../config/load.js';
import type { Logger } from '../logging/logger.js';
import type { FindingSeverity } from '../runbooks/finding.js';
import type { Store } from '../store/store.js';
import type { VaultClient } from '../vault/client.js';

/** The areas posture scores separately (and groups its table by), worst first within each. */
export const POSTURE_AREAS = [
  'tokens',
  'policies',
  'auth',
  'engines',
  'audit',
  'seal',
  'wrapping',
  'tls',
] as const;
export type PostureArea = (typeof POSTURE_AREAS)[number];

/**
 * One hardening finding: the stable JSON shape of `posture --json`, SARIF results, baselines and the
 * console. `evidence` holds observed facts as data (accessors, policy names, TTLs), never a secret.
 */
export interface PostureFinding {
  /** Stable per finding instance: `<check>:<subject>` (e.g. `root-tokens:accessor:abc123`), so baselines can diff. */
  id: string;
  /** The check that raised it (its registry id, e.g. `root-tokens`). */
  check: string;
  area: PostureArea;
  severity: FindingSeverity;
  /** What is wrong, in one sentence. */
  title: string;
  evidence: Record<string, unknown>;
  /** Why it matters, in one or two sentences. */
  why: string;
  /** The exact CLI command, API call or configuration stanza that fixes it. */
  fix: string;
}

/** What a check may read: the server, the audit store, the configuration; all read-only. */
export interface PostureContext {
  vault: VaultClient;
  store: Store;
  config: Config;
  logger: Logger;
  /** Start of the audit window the usage checks look at (`--since`). */
  since: Date;
  now: Date;
}

/**
 * A check: one file in src/posture/checks/ (`root-tokens.check.ts`), one line in the registry. A check
 * that cannot look (permission denied, timeout) returns a finding saying what it could not read and the
 * capability and path it needs (see `couldNotRead`), never an empty list.
 */
export interface PostureCheck {
  id: string;
  area: PostureArea;
  /** One line for `posture --help` and reports. */
  title: string;
  run(ctx: PostureContext): Promise<PostureFinding[]>;
}

/** The finding of a check that could not look: medium at least, naming what it needs. */
export function couldNotRead(
  check: Pick<PostureCheck, 'id' | 'area'>,
  what: string,
  need: { capability: string; path: string },
  reason: string,
): PostureFinding {
  return {
    id: `${check.id}:could-not-read:${need.path}`,
    check: check.id,
    area: check.area,
    severity: 'medium',
    title: `could not read ${what} (needs ${need.capability} on ${need.path})`,
    evidence: { capability: need.capability, path: need.path, reason },
    why: 'a check that could not look has not shown the posture is sound; the token sealwatch runs with needs this capability',
    fix: `grant the policy of sealwatch's token: path "${need.path}" { capabilities = ${JSON.stringify(need.capability.split(/,\s*/))} }`,
  };
}
