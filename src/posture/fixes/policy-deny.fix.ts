import { createHash } from 'node:crypto';
import { SealwatchError } from '../../errors.js';
import { tenantPaths, tenantReach, type TemplateMount } from '../../policy/access-matrix.js';
import { parsePolicy, type AclPolicy } from '../../policy/policy.js';
import { readRoles, resolveTemplateMounts } from '../../policy/policy-sources.js';
import type { PostureFinding } from '../check.js';
import { evidenceString, refuseOrContinue, type FixDeps, type PostureFixer } from './fix.js';

const KV_V2_APIS = ['data', 'metadata', 'delete', 'undelete', 'destroy'] as const;

/**
 * A policy that lets one tenant's role reach other tenants' secrets
 * (policy-cross-tenant:<policy>:<mount>/<role>) gets explicit deny rules on those tenants' paths,
 * appended between two marker comments; every other rule is kept as written. The deny covers the
 * tenant's prefix under every `tenancy.paths` template (all KV v2 APIs: data, metadata, delete,
 * undelete, destroy) and every rule of the policy written under that prefix (an exact rule or a
 * later wildcard would otherwise win over the prefix deny: the server lets ONE rule decide a path).
 *
 * Before anything is written the new text is parsed and evaluated with the same ACL evaluator the
 * access matrix uses: the other tenants must be out of reach and the role's own tenant reached as
 * before, or the fix is refused. A policy that another tenant's role or a role of no tenant also
 * carries is refused: the deny would cut their access too (give the role a policy of its own). The
 * previous text is journalled (step output `previous_text`) so the change can be undone with
 * `bao policy write`; a policy holds paths and capabilities, no secret.
 */
export const policyDenyFix: PostureFixer = {
  name: 'deny-other-tenants-in-policy',
  title: "add explicit deny rules on the other tenants' paths to the policy",
  handles: (finding) =>
    finding.id.startsWith('policy-cross-tenant:') && typeof finding.evidence['role_tenant'] === 'string',
  async refuse(finding, deps) {
    const { policy, roleTenant } = target(finding);
    const carriers =
      (await readRoles(deps.vault, deps.config.posture.tenantRoleTemplate)).roles.get(policy) ?? [];
    const others = carriers.filter((r) => r.tenant !== roleTenant);
    if (others.length > 0) {
      const carriers = others
        .map((r) => `${r.mount}/${r.role}${r.tenant ? ` (tenant ${r.tenant})` : ''}`)
        .join(', ');
      const role = `${evidenceString(finding, 'mount')}/${evidenceString(finding, 'role')}`;
      return `policy ${policy} is also carried by ${carriers}: a deny would cut their access too; give ${role} a policy of its own`;
    }
    try {
      await rewrite(finding, deps);
    } catch (error) {
      if (error instanceof DenyNotEnoughError) return error.message;
      throw error;
    }
    return undefined;
  },
  async plan(finding, deps) {
    const r = await rewrite(finding, deps);
    return [
      {
        action: `rewrite policy ${r.policy}: keep its rules, add ${r.denyPaths.length} deny rule(s) on the paths of tenant(s) ${r.denied.join(', ')}`,
        details: {
          policy: r.policy,
          denied_tenants: r.denied,
          deny_paths: r.denyPaths,
          unchanged: r.unchanged,
        },
        destructive: true,
      },
    ];
  },
  async apply(finding, deps) {
    await refuseOrContinue(this, finding, deps);
    const r = await rewrite(finding, deps);
    if (!r.unchanged) await deps.vault.writePolicy(r.policy, r.newText);
    return {
      evidence: {
        policy: r.policy,
        denied_tenants: r.denied,
        deny_paths: r.denyPaths,
        written: !r.unchanged,
        previous_sha256: sha256(r.previousText),
        new_sha256: sha256(r.newText),
      },
      // The text before the fix, to restore it: `bao policy write <policy> -` with this text.
      outputs: { policy: r.policy, previous_text: r.previousText },
    };
  },
};

class DenyNotEnoughError extends SealwatchError {
  constructor(message: string) {
    super('posture_fix_deny', message);
  }
}

function target(finding: PostureFinding) {
  const policy = evidenceString(finding, 'policy');
  const roleTenant = evidenceString(finding, 'role_tenant');
  const list = (key: string) =>
    Array.isArray(finding.evidence[key])
      ? (finding.evidence[key] as unknown[]).filter((t) => typeof t === 'string')
      : [];
  const denied = [...new Set([...list('read'), ...list('write')])].filter((t) => t !== roleTenant).sort();
  return { policy, roleTenant, denied };
}

const markers = (findingId: string) => ({
  start: `# sealwatch posture fix ${findingId}: deny other tenants' paths`,
  end: `# end of sealwatch posture fix ${findingId}`,
});

/** The policy text without this fix's block (a resumed run finds it written already). */
function withoutBlock(text: string, findingId: string): string {
  const { start, end } = markers(findingId);
  const from = text.indexOf(start);
  if (from < 0) return text;
  const to = text.indexOf(end, from);
  const after = to < 0 ? '' : text.slice(to + end.length);
  return (text.slice(0, from).replace(/\n+$/, '\n') + after.replace(/^\n+/, '')).replace(/\n*$/, '\n');
}

async function rewrite(finding: PostureFinding, deps: FixDeps) {
  const { policy, roleTenant, denied } = target(finding);
  if (denied.length === 0)
    throw new DenyNotEnoughError(`finding ${finding.id} names no other tenant to deny`);
  const current = await deps.vault.readPolicy(policy);
  if (current === undefined)
    throw new SealwatchError('posture_fix_policy_gone', `policy ${policy} does not exist (any more)`);
  const previousText = withoutBlock(current, finding.id);
  const before = await parsePolicy(policy, previousText);
  const templates = await resolveTemplateMounts(deps.vault, deps.config.tenancy.paths);
  if (templates.couldNotRead.length > 0)
    throw new SealwatchError(
      'posture_fix_templates',
      `could not find the mounts of the tenant paths: ${templates.couldNotRead.map((g) => `${g.what} (needs ${g.capability} on ${g.path})`).join('; ')}`,
    );
  const denyPaths = [...new Set(denied.flatMap((t) => denyPathsFor(t, templates.mounts, before)))];
  const { start, end } = markers(finding.id);
  const block = [
    start,
    ...denyPaths.map((p) => `path ${JSON.stringify(p)} { capabilities = ["deny"] }`),
    end,
  ];
  const newText = `${previousText.replace(/\n*$/, '\n')}\n${block.join('\n')}\n`;
  const after = await parsePolicy(policy, newText);
  // The same evaluator as the access matrix (and the server, tested against sys/capabilities).
  const pathsOf = (t: string) => tenantPaths(t, templates.mounts);
  const tenants = [roleTenant, ...denied];
  const reachBefore = tenantReach([before], tenants, pathsOf);
  const reachAfter = tenantReach([after], tenants, pathsOf);
  const still = [...new Set([...reachAfter.read, ...reachAfter.write])].filter((t) => t !== roleTenant);
  if (still.length > 0)
    throw new DenyNotEnoughError(
      `deny rules on the tenant paths would still leave policy ${policy} reaching ${still.join(', ')}: narrow it by hand`,
    );
  for (const kind of ['read', 'write'] as const)
    if (reachBefore[kind].includes(roleTenant) !== reachAfter[kind].includes(roleTenant))
      throw new DenyNotEnoughError(
        `deny rules on the other tenants' paths would change tenant ${roleTenant}'s own ${kind} access through policy ${policy}: narrow it by hand`,
      );
  return { policy, denied, denyPaths, previousText, newText, unchanged: current === newText };
}

/**
 * The paths to deny for one tenant: its prefix under each template (exact and `/*`; all KV v2 APIs),
 * and every non-deny rule of the policy written under that prefix, since such a rule (an exact path,
 * a longer prefix, a later `+`) would win over the prefix deny; a deny block with the same path
 * merges into it and leaves only deny.
 */
function denyPathsFor(tenant: string, mounts: readonly TemplateMount[], policy: AclPolicy): string[] {
  const bases = mounts.flatMap(({ template, mount, kvVersion }) => {
    const at = template.segments.findIndex((s) => s.kind === 'var' && s.name === 'tenant');
    const filled = template.segments
      .slice(0, at + 1)
      .map((s) => (s.kind === 'literal' ? s.value : s.name === 'tenant' ? tenant : '+'))
      .join('/');
    if (kvVersion !== 2) return [filled];
    const relative = filled.slice(mount.length).replace(/^\//, '');
    return KV_V2_APIS.map((api) => `${mount}/${api}/${relative}`);
  });
  const paths = bases.flatMap((base) => [base, `${base}/*`]);
  for (const rule of policy.rules)
    if (
      !rule.templated &&
      !rule.capabilities.includes('deny') &&
      bases.some((base) => rule.path === base || rule.path.startsWith(`${base}/`))
    )
      paths.push(rule.path);
  return [...new Set(paths)];
}

const sha256 = (text: string) => createHash('sha256').update(text).digest('hex');
