import { couldNotRead, type PostureCheck, type PostureContext, type PostureFinding } from '../check.js';
import type { CouldNotRead, TemplateMount } from '../../policy/access-matrix.js';
import type { AclPolicy } from '../../policy/policy.js';
import { readPolicies, resolveTemplateMounts } from '../../policy/policy-sources.js';

/**
 * What the policy checks share, read once per posture run (parsing 500 policies takes seconds): the
 * parsed policies and the mounts of the tenant path templates. Keyed by the run's context.
 */
export interface PolicyFacts {
  policies: AclPolicy[];
  templateMounts: TemplateMount[];
  /** What the policy set itself could not read (the list, a policy, a policy that does not parse). */
  policyGaps: CouldNotRead[];
  /** The policy gaps and the template mounts that could not be found. */
  couldNotRead: CouldNotRead[];
}

const cache = new WeakMap<PostureContext, Promise<PolicyFacts>>();

export function policyFacts(ctx: PostureContext): Promise<PolicyFacts> {
  let facts = cache.get(ctx);
  if (!facts) {
    facts = Promise.all([
      readPolicies(ctx.vault),
      resolveTemplateMounts(ctx.vault, ctx.config.tenancy.paths),
    ]).then(([set, templates]) => ({
      policies: set.policies,
      templateMounts: templates.mounts,
      policyGaps: set.couldNotRead,
      couldNotRead: [...set.couldNotRead, ...templates.couldNotRead],
    }));
    cache.set(ctx, facts);
  }
  return facts;
}

/** A could-not-read of the policy domain part as a posture finding of `check`. */
export function gapFindings(
  check: Pick<PostureCheck, 'id' | 'area'>,
  gaps: readonly CouldNotRead[],
): PostureFinding[] {
  return gaps.map((gap) =>
    couldNotRead(check, gap.what, { capability: gap.capability, path: gap.path }, gap.reason),
  );
}

/** Capabilities that change what they are granted on. */
export const WRITE_CAPABILITIES = ['create', 'update', 'patch', 'delete', 'sudo'] as const;
