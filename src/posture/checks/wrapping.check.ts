import type { PostureCheck, PostureFinding } from '../check.js';
import { auditWindow, emptyWindowFinding } from '../audit-window.js';

const check = { id: 'wrapping', area: 'wrapping' } as const;
const raised = { check: check.id, area: check.area } as const;

/** `auth/<mount>/role/<role>/[custom-]secret-id` → mount and role. */
const SECRET_ID_PATH = /^auth\/(.+)\/role\/([^/]+)\/(?:custom-)?secret-id$/;

/**
 * Response wrapping of secret delivery, from the audit store over the window: AppRole secret IDs
 * issued without a wrapping token (per role, medium), and the fraction of sensitive reads (tenant
 * paths, dynamic `…/creds/…`) delivered wrapped, per caller (info). A response was wrapped when its
 * audit entry carries `response.wrap_info`, which ingest keeps in the `wrap_info` column.
 */
export const wrappingCheck: PostureCheck = {
  ...check,
  title: 'AppRole secret IDs and sensitive reads delivered without response wrapping',
  async run(ctx) {
    const empty = await emptyWindowFinding(ctx, check, 'how secrets were delivered');
    if (empty) return [empty];
    const window = auditWindow(ctx);
    const [issuances, reads] = await Promise.all([
      ctx.store.postureUsage.secretIdIssuances(window),
      ctx.store.postureUsage.sensitiveReads(window),
    ]);
    const findings: PostureFinding[] = [];
    for (const i of issuances.sort((a, b) => a.path.localeCompare(b.path))) {
      if (i.unwrapped === 0) continue;
      const match = SECRET_ID_PATH.exec(i.path);
      const mount = match?.[1] ?? 'approle';
      const role = match?.[2] ?? i.path;
      const total = i.wrapped + i.unwrapped;
      findings.push({
        id: `wrapping:secret-id:${mount}/${role}`,
        ...raised,
        severity: 'medium',
        title: `${i.unwrapped} of ${total} secret IDs of AppRole role ${role} on auth/${mount} were issued unwrapped since ${ctx.since.toISOString()}`,
        evidence: {
          path: i.path,
          role,
          mount: `auth/${mount}`,
          issued: total,
          wrapped: i.wrapped,
          unwrapped: i.unwrapped,
          wrapped_fraction: round(i.wrapped / total),
          last_unwrapped: i.last_unwrapped,
        },
        why: 'an unwrapped secret ID crosses every hop (CI logs, orchestrators, chat) in clear; a wrapping token can be read once, so an interception shows up as a failed unwrap',
        fix: `bao write -wrap-ttl=60s -f ${i.path}  # deliver the wrapping token; the consumer runs bao unwrap. Enforce it: path "${i.path}" { capabilities = ["update"] min_wrapping_ttl = "1s" max_wrapping_ttl = "300s" }`,
      });
    }
    let wrapped = 0;
    let unwrapped = 0;
    const byCaller = new Map<string, { caller: string; wrapped: number; unwrapped: number }>();
    for (const r of reads) {
      wrapped += r.wrapped;
      unwrapped += r.unwrapped;
      const caller = callerOf(r.metadata, r.display_name);
      const entry = byCaller.get(caller) ?? { caller, wrapped: 0, unwrapped: 0 };
      entry.wrapped += r.wrapped;
      entry.unwrapped += r.unwrapped;
      byCaller.set(caller, entry);
    }
    if (unwrapped > 0) {
      const callers = [...byCaller.values()]
        .filter((c) => c.unwrapped > 0)
        .sort((a, b) => b.unwrapped - a.unwrapped || a.caller.localeCompare(b.caller));
      findings.push({
        id: 'wrapping:sensitive-reads',
        ...raised,
        severity: 'info',
        title: `${pct(wrapped / (wrapped + unwrapped))} of ${wrapped + unwrapped} sensitive reads were delivered wrapped since ${ctx.since.toISOString()}`,
        evidence: {
          reads: wrapped + unwrapped,
          wrapped,
          unwrapped,
          wrapped_fraction: round(wrapped / (wrapped + unwrapped)),
          // The 20 callers with the most unwrapped reads; the rest are counted.
          by_caller: callers.slice(0, 20).map((c) => ({
            ...c,
            wrapped_fraction: round(c.wrapped / (c.wrapped + c.unwrapped)),
          })),
          other_callers: Math.max(0, callers.length - 20),
        },
        why: 'a secret a broker fetches for someone else is safer handed over as a single-use wrapping token; an application reading its own secret needs no wrapping',
        fix: 'for delivery to a third party: bao read -wrap-ttl=60s <path>  (or the header X-Vault-Wrap-TTL: 60s); require it with max_wrapping_ttl in the broker policy',
      });
    }
    return findings;
  },
};

/** Who made a read: the AppRole role, the userpass user, else the token's display name. */
function callerOf(metadata: Record<string, string> | null, displayName: string | null): string {
  if (metadata?.['role_name']) return `role:${metadata['role_name']}`;
  if (metadata?.['role']) return `role:${metadata['role']}`;
  if (metadata?.['username']) return `user:${metadata['username']}`;
  return `display-name:${displayName ?? 'unknown'}`;
}

const round = (x: number) => Math.round(x * 1000) / 1000;
const pct = (x: number) => `${Math.round(x * 100)} %`;
