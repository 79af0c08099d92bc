import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { z } from 'zod';
import { ASSESS_SCOPES } from '../assess/assess.service.js';
import { ConfigError } from '../errors.js';
import { createNotifier } from '../notify/notify.service.js';
import type { PlaybookDeps } from '../playbook/registry.js';
import { renderReport, buildReport } from '../playbook/report.js';
import type { Step, StepContext } from '../playbook/step.js';
import { createRotation } from '../rotate/rotation.service.js';
import { ROTATOR_KINDS } from '../rotate/rotator.js';
import { createRotators } from '../rotate/rotators/index.js';
import { incidentDirectory } from './incident-files.js';
import { createKeyCustody } from './new-keys.js';
import { createAssessStep } from './steps/assess.step.js';
import { createContainStep } from './steps/contain.step.js';
import { NOTIFY_AUDIENCES, notifyStep } from './steps/notify.step.js';
import { createPreserveStep } from './steps/preserve.step.js';
import { createRecoverStep } from './steps/recover.step.js';
import { rekeyStep } from './steps/rekey.step.js';
import { createRotateStep } from './steps/rotate.step.js';
import { waitForUnseal } from './unseal.js';

/**
 * What a breach incident is declared with, journalled as JSON so `incident resume` rebuilds the same
 * playbook. Never a secret: key shares come from a file or stdin at run time.
 */
export const breachOptionsSchema = z.object({
  containment: z.enum(['lockdown', 'seal-first']).default('lockdown'),
  /** Seal every node after the lockdown (lockdown mode). */
  seal: z.boolean().default(false),
  /** Start of the breach window (ISO). */
  since: z.string(),
  audit_logs: z.array(z.string()).default([]),
  /** Suspects (--suspect and the config's suspects:), time bounds as ISO times (canonicalSuspect). */
  suspects: z.array(z.string()).default([]),
  /** Which tenants the assessment calls affected (--scope). */
  scope: z.enum(ASSESS_SCOPES).default('implicated'),
  /** Who the notify step tells (--notify): the affected tenants, or the at-risk ones too. */
  notify: z.enum(NOTIFY_AUDIENCES).default('affected'),
  kinds: z.array(z.enum(ROTATOR_KINDS)).optional(),
  key_shares: z.int().min(1).max(255).default(5),
  key_threshold: z.int().min(1).max(255).default(3),
  pgp_keys_dir: z.string().optional(),
  new_keys_out: z.string().optional(),
  export_key_file: z.string().optional(),
  /** Seal one node and prove old shares fail and new ones unseal it (default: multi-node clusters). */
  verify_seal_unseal: z.boolean().optional(),
  unseal_timeout_seconds: z.int().min(1).default(3600),
});
export type BreachOptions = z.infer<typeof breachOptionsSchema>;

export type BreachPlaybookDeps = PlaybookDeps;

/**
 * The emergency procedure for a compromised Vault/OpenBao, correctly ordered: evidence first, then
 * containment (a sealed Vault answers nothing, so lockdown comes before any seal), the assessment,
 * new key shares and root token, every tenant secret, the tenants told, access restored, a report.
 */
export async function breachPlaybook(
  deps: BreachPlaybookDeps,
  rawOptions: Readonly<Record<string, unknown>>,
): Promise<Step[]> {
  const options = breachOptionsSchema.parse(rawOptions);
  const { vault, store, config, logger } = deps;
  const runtime = deps.runtime ?? {};
  const keyHolders = deps.site?.keyHolders;
  const storeDir = config.store.url.startsWith('postgres') ? '.sealwatch' : dirname(config.store.url);
  const files = { storeDir, exportKeyFile: options.export_key_file };
  const shares = (await runtime.currentShares?.()) ?? keyHolders?.currentShares();
  const custody = createKeyCustody();
  const rotation = createRotation({
    vault,
    store,
    config,
    rotators: createRotators(config.rotation, { vault, logger }),
    logger,
  });

  /** Rekey, rotation and notices need an unsealed, active Vault: unseal with the current shares if given. */
  const whenUnsealed = <S>(step: Step<S>): Step<S> => ({
    ...step,
    run: async (ctx) => {
      await waitForUnseal(vault, {
        timeoutMs: options.unseal_timeout_seconds * 1000,
        unsealKeys: custody.current()?.shares.length ? custody.current()!.shares : shares,
        signal: ctx.signal,
        progress: ctx.progress,
      });
      return step.run(ctx);
    },
  });

  // Each step reads its options from the context: the journalled breach options (parsed, defaults
  // included, by whoever declares the incident), of which each step's own option shape is a subset.
  return [
    createPreserveStep({ vault, ...files }),
    createContainStep({
      vault,
      ...files,
      unsealKeys: () => shares,
      revokedAccessors: store.revokedAccessors,
    }),
    createAssessStep({
      store,
      config,
      logger,
      vault,
      readTokenStdin: async () => {
        const token = await runtime.leakedValue?.();
        if (token === undefined)
          throw new ConfigError('--suspect token-stdin: give the leaked token on standard input');
        return token;
      },
    }),
    whenUnsealed(
      rekeyStep({
        vault,
        currentShares: shares ?? [],
        keyShares: options.key_shares,
        keyThreshold: options.key_threshold,
        ...(options.pgp_keys_dir ? { pgpKeysDir: options.pgp_keys_dir } : {}),
        ...(options.new_keys_out ? { newKeysOut: options.new_keys_out } : {}),
        ...(runtime.reveal ? { reveal: runtime.reveal } : {}),
        ...(keyHolders ? { keyHolders } : {}),
        custody,
        ...(options.verify_seal_unseal !== undefined ? { verifySealUnseal: options.verify_seal_unseal } : {}),
      }) as Step,
    ),
    whenUnsealed(
      createRotateStep({ rotation, runsOfIncident: (id) => store.rotations.runsOfIncident(id) }) as Step,
    ),
    config.notify
      ? whenUnsealed(
          notifyStep({
            notifier: createNotifier({ store, config: config.notify, logger }),
            vault,
            config: config.notify,
            audience: options.notify,
          }),
        )
      : notifyNotConfigured(),
    createRecoverStep({
      vault,
      ...files,
      newUnsealKeys: () => {
        const material = custody.current();
        return material && material.shares.length > 0 ? material.shares : keyHolders?.currentShares();
      },
      onAppCredentials: async (credentials) => {
        deps.site?.applications?.record(credentials);
        await runtime.onAppCredentials?.(credentials);
      },
    }),
    reportStep(deps, storeDir),
  ];
}

/** Without a notify section there is no channel: affected tenants stop the playbook with a clear message. */
function notifyNotConfigured(): Step {
  const affectedOf = (ctx: StepContext) => {
    const affected = ctx.outputs['assess']?.['affected_tenants'];
    return Array.isArray(affected) ? affected.length : 0;
  };
  return {
    id: 'notify',
    title: 'Notify affected tenants',
    targetSeconds: 15 * 60,
    needsApproval: false,
    async plan(ctx) {
      return [
        {
          action: `notify ${affectedOf(ctx)} affected tenants: no notify channel is configured (config notify.smtp / notify.webhooks)`,
        },
      ];
    },
    async run(ctx) {
      const affected = affectedOf(ctx);
      if (affected > 0)
        throw new ConfigError(
          `${affected} affected tenants must be notified but the config has no notify section (smtp or webhooks): add one, then sealwatch incident resume ${ctx.incidentId}`,
        );
      return {
        evidence: { affected_tenants: 0, note: 'no affected tenant to notify' },
        outputs: { sent: 0, failed: 0, tenants: 0 },
      };
    },
  };
}

/** "Report": the timeline so far, written as Markdown, HTML and JSON beside the incident's evidence. */
function reportStep(deps: PlaybookDeps, storeDir: string): Step {
  return {
    id: 'report',
    title: 'Write the incident report',
    targetSeconds: 5 * 60,
    needsApproval: false,
    async plan() {
      return [
        {
          action:
            'write the report (timeline measured vs target, RTO, actions, tenants, failures) as md, html and json',
        },
      ];
    },
    async run({ incidentId }) {
      const dir = incidentDirectory({ storeDir }, incidentId);
      mkdirSync(dir, { recursive: true, mode: 0o700 });
      const detail = {
        incident: (await deps.store.incidents.get(incidentId))!,
        steps: await deps.store.incidents.steps(incidentId),
        events: await deps.store.incidents.events(incidentId),
      };
      const report = buildReport(detail);
      const written: string[] = [];
      for (const format of ['md', 'html', 'json'] as const) {
        const file = join(dir, `report.${format}`);
        writeFileSync(file, renderReport(report, format), { mode: 0o600 });
        written.push(file);
      }
      return { evidence: { files: written, steps: report.steps.length } };
    },
  };
}
