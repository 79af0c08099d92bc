import type { NotifyConfig } from '../../config/notify.schema.js';
import { SealwatchError } from '../../errors.js';
import type { Notifier, TenantNotice } from '../../notify/notify.service.js';
import type { PlanEntry, Step, StepContext, StepOutcome } from '../../playbook/step.js';
import type { VaultClient } from '../../vault/client.js';

export class NotifyError extends SealwatchError {
  constructor(message: string, details: Record<string, unknown>) {
    super('notify_failed', message, { details });
  }
}

export interface NotifyStepDeps {
  notifier: Pick<Notifier, 'deliver'>;
  vault: Pick<VaultClient, 'mountOf' | 'kv' | 'read'>;
  config: Pick<NotifyConfig, 'from' | 'profile_path' | 'webhooks' | 'smtp'>;
  /** Tenants to notify (as affected); default: the assess step's outputs.affected_tenants. */
  tenants?: readonly string[];
  /** `at-risk` also notifies the assess step's outputs.at_risk_tenants, each notice saying so. Default `affected`. */
  audience?: NotifyAudience;
  assessStepId?: string;
  rotateStepId?: string;
}

/** Who `respond breach --notify` tells: the tenants read, or those and the ones that could have been. */
export const NOTIFY_AUDIENCES = ['affected', 'at-risk'] as const;
export type NotifyAudience = (typeof NOTIFY_AUDIENCES)[number];

/** Whether a tenant's secrets were read (affected) or only could have been (at risk), in the notice's words. */
const EXPOSURE_TEXT: Record<Exposure, string> = {
  read: 'Your secrets were read: the audit log records a read of them by the credential involved.',
  'could-read':
    'Your secrets could have been read: the credential involved had access to them, but no read of them is on record.',
};
type Exposure = 'read' | 'could-read';

export interface TenantProfile {
  name?: string;
  domain?: string;
  contact_email?: string;
  [field: string]: unknown;
}

/** What each rotated kind means to a tenant, in the notice's words. */
const ACTION_TEXT: Record<string, string> = {
  ssh: 'SSH keys replaced',
  smtp: 'SMTP credentials replaced',
  apikey: 'API keys revoked',
  dkim: 'DKIM keys replaced (new selector published)',
  postgres: 'database credentials replaced',
};

const REQUIRED_ACTIONS = [
  'Generate new API keys in the dashboard (the old ones no longer work).',
  'Update every integration that uses an API key or the SMTP credentials with the new values.',
  'Review recent activity on your account and tell us about anything you do not recognise.',
];

/**
 * "Notify tenants": every affected tenant gets ONE notice per configured channel naming the
 * incident, what was rotated or revoked and what they must do. Delivery is recorded per
 * (incident, tenant, channel) in the store, so a resumed incident never notifies twice. A
 * delivery that fails is recorded with its reason and the step fails after all the others were
 * attempted.
 */
export function notifyStep(deps: NotifyStepDeps): Step {
  const listed = (ctx: StepContext, field: string): string[] => {
    const value = ctx.outputs[deps.assessStepId ?? 'assess']?.[field];
    return Array.isArray(value) ? value.filter((t): t is string => typeof t === 'string') : [];
  };
  const tenantsOf = (ctx: StepContext): { tenant: string; exposure: Exposure }[] => {
    const affected = deps.tenants ? [...deps.tenants] : listed(ctx, 'affected_tenants');
    const read = new Set(affected);
    const atRisk =
      deps.audience === 'at-risk' ? listed(ctx, 'at_risk_tenants').filter((t) => !read.has(t)) : [];
    return [
      ...affected.map((tenant) => ({ tenant, exposure: 'read' as const })),
      ...atRisk.map((tenant) => ({ tenant, exposure: 'could-read' as const })),
    ];
  };
  const actionsOf = (ctx: StepContext): string[] => {
    // The rotate step's output is the rotation summary; its by_kind counts say what was replaced.
    const summary = ctx.outputs[deps.rotateStepId ?? 'rotate']?.['summary'] as
      { by_kind?: Record<string, { rotated?: number }> } | undefined;
    const byKind = summary?.by_kind;
    if (!byKind || typeof byKind !== 'object') return ['credentials held for your account replaced'];
    return Object.keys(byKind)
      .filter((kind) => (byKind[kind]?.rotated ?? 0) > 0)
      .map((kind) => ACTION_TEXT[kind] ?? `${kind} credentials replaced`);
  };
  const channels = [...(deps.config.smtp ? ['email'] : []), ...(deps.config.webhooks ? ['webhook'] : [])];

  async function profileOf(tenant: string): Promise<TenantProfile> {
    const path = deps.config.profile_path.replaceAll('{tenant}', tenant);
    const mount = await deps.vault.mountOf(path);
    if (mount.kvVersion === 2)
      return (await deps.vault.kv(mount.mount).read<TenantProfile>(mount.relative))?.data ?? {};
    return (await deps.vault.read<TenantProfile>(path)).data ?? {};
  }

  return {
    id: 'notify',
    title: 'Notify affected tenants',
    // "Immediate" in the procedure: minutes, not hours.
    targetSeconds: 15 * 60,
    needsApproval: false,

    async plan(ctx): Promise<PlanEntry[]> {
      const tenants = tenantsOf(ctx);
      const atRisk = tenants.filter((t) => t.exposure === 'could-read').length;
      return [
        {
          action: `send one notice per tenant (${channels.join(' and ') || 'no channel configured'}) to ${tenants.length - atRisk} affected tenant(s)${deps.audience === 'at-risk' ? ` and ${atRisk} at-risk tenant(s)` : ''}`,
          details: { tenants: tenants.length, at_risk: atRisk, channels, actions: actionsOf(ctx) },
        },
      ];
    },

    async run(ctx): Promise<StepOutcome> {
      const tenants = tenantsOf(ctx);
      if (channels.length === 0)
        throw new NotifyError(
          'no notice channel configured: add notify.smtp or notify.webhooks to the config',
          {},
        );
      const actions = actionsOf(ctx);
      const notices: TenantNotice[] = [];
      for (const { tenant, exposure } of tenants) {
        const profile = await profileOf(tenant);
        const url = deps.config.webhooks?.url
          ? deps.config.webhooks.url.replaceAll('{tenant}', encodeURIComponent(tenant))
          : deps.config.webhooks?.url_field
            ? stringField(profile, deps.config.webhooks.url_field)
            : undefined;
        notices.push({
          tenant,
          email: stringField(profile, 'contact_email'),
          webhookUrl: url,
          values: {
            incident_id: ctx.incidentId,
            tenant,
            tenant_name: stringField(profile, 'name') ?? tenant,
            domain: stringField(profile, 'domain') ?? '',
            actions: actions.map((a) => `- ${a}`).join('\n'),
            required_actions: REQUIRED_ACTIONS.map((a) => `- ${a}`).join('\n'),
            sender: deps.config.from,
            exposure: EXPOSURE_TEXT[exposure],
          },
          payload: {
            type: 'security_incident',
            incident_id: ctx.incidentId,
            tenant,
            exposure,
            actions,
            required_actions: REQUIRED_ACTIONS,
          },
        });
      }
      const result = await deps.notifier.deliver(ctx.incidentId, notices, ctx.progress);
      const outputs = { sent: result.sent, failed: result.failed, tenants: tenants.length };
      const failures = result.deliveries.filter((d) => d.state === 'failed');
      if (failures.length > 0)
        throw new NotifyError(
          `${failures.length} of ${result.deliveries.length} notices failed (${failures
            .slice(0, 3)
            .map((f) => `${f.tenant} ${f.channel}: ${f.error}`)
            .join(
              '; ',
            )}${failures.length > 3 ? '; …' : ''}); the others were sent — fix the channel and resume: sent notices are not sent again`,
          {
            ...outputs,
            failures: failures.map((f) => ({ tenant: f.tenant, channel: f.channel, error: f.error })),
          },
        );
      return {
        evidence: {
          ...outputs,
          at_risk_notified: tenants.filter((t) => t.exposure === 'could-read').map((t) => t.tenant),
          channels,
          already_sent_earlier: result.deliveries.filter((d) => d.earlier).length,
        },
        outputs,
      };
    },
  };
}

function stringField(profile: TenantProfile, field: string): string | undefined {
  const value = profile[field];
  return typeof value === 'string' && value.trim() !== '' ? value.trim() : undefined;
}
