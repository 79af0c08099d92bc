import { z } from 'zod';
import { SealwatchError } from '../../errors.js';
import { waitForUnseal } from '../../respond/unseal.js';
import type { VaultClient } from '../../vault/client.js';
import { BadRequestError } from '../../vault/errors.js';
import type { Finding } from '../finding.js';
import { probeNodes, shortError } from '../nodes.js';
import { type Runbook, type RunbookDeps } from '../runbook.js';
import { currentShares } from '../key-shares.js';
import { runNodeCommand } from '../raft/node-host.js';
import { RESTART_COMMAND_FLAG, WAIT_FLAG } from '../flags.js';

const optionsSchema = z.object({
  /** For auto-unseal: the seal's backend (transit server, KMS endpoint) to check. */
  sealBackend: z.url({ protocol: /^https?$/ }).optional(),
  /** For auto-unseal: the command that restarts a node; `{node}` becomes its address. */
  restartCommand: z.string().min(1).optional(),
  /** How long to wait for every node to be unsealed and one active. */
  waitMs: z.int().min(1_000).default(120_000),
  /** A KV path (CLI form, `secret/tenants/acme/smtp`) to read once unsealed. */
  verifyPath: z.string().min(1).optional(),
});
type SealedOptions = z.infer<typeof optionsSchema>;

const AUTO_UNSEAL_HINT = (type: string) =>
  `auto-unseal (${type}): make the seal backend reachable, then restart the node (sealwatch runbook run sealed --restart-command CMD)`;

/** Whether an HTTP endpoint answers at all within 2 s (any status counts: the backend is up). */
async function answers(url: string): Promise<{ ok: boolean; detail: string }> {
  try {
    const res = await fetch(new URL('v1/sys/health', url.endsWith('/') ? url : `${url}/`), {
      signal: AbortSignal.timeout(2_000),
    });
    await res.body?.cancel();
    return { ok: true, detail: `HTTP ${res.status}` };
  } catch (error) {
    return { ok: false, detail: shortError(error) };
  }
}

async function diagnoseSealed(deps: RunbookDeps, options: SealedOptions): Promise<Finding[]> {
  const probes = await probeNodes(deps.vault);
  const findings: Finding[] = [];
  const sealed = probes.filter((p) => p.seal?.sealed && p.seal.initialized);
  const unsealed = probes.filter((p) => p.seal && !p.seal.sealed);
  const backend = options.sealBackend ? await answers(options.sealBackend) : undefined;
  for (const p of probes) {
    if (p.error) {
      findings.push({
        id: 'node-unreachable',
        severity: 'high',
        symptom: `${p.node} does not answer: ${p.error}`,
        evidence: { error: p.error },
        node: p.node,
        suggested_step:
          'check the process and its listener on that host (sealwatch runbook diagnose cluster-failure)',
      });
      continue;
    }
    const seal = p.seal!;
    if (!seal.initialized) {
      findings.push({
        id: 'node-uninitialized',
        severity: 'high',
        symptom: `${p.node} is not initialised`,
        evidence: { initialized: false, version: seal.version },
        node: p.node,
        suggested_step:
          'join it to the cluster (sealwatch runbook run leader-election) or restore (cluster-failure)',
      });
      continue;
    }
    if (!seal.sealed) continue;
    const auto = seal.type !== 'shamir';
    findings.push({
      id: 'node-sealed',
      severity: unsealed.length === 0 ? 'critical' : 'high',
      symptom: `${p.node} is sealed (${seal.type}${seal.progress > 0 ? `, unseal in progress ${seal.progress}/${seal.t}` : ''})`,
      evidence: {
        seal_type: seal.type,
        progress: seal.progress,
        threshold: seal.t,
        shares: seal.n,
        recovery_seal: seal.recovery_seal,
        version: seal.version,
        ...(seal.migration ? { migration: true } : {}),
        ...(auto && backend
          ? {
              seal_backend: options.sealBackend,
              seal_backend_answers: backend.ok,
              seal_backend_detail: backend.detail,
            }
          : {}),
      },
      node: p.node,
      suggested_step: auto
        ? AUTO_UNSEAL_HINT(seal.type)
        : `unseal with ${seal.t} of ${seal.n} key shares: sealwatch runbook run sealed --unseal-keys-file F (or --unseal-keys-stdin, or type them at the prompt)`,
    });
  }
  if (backend && !backend.ok && sealed.some((p) => p.seal!.type !== 'shamir'))
    findings.push({
      id: 'seal-backend-unreachable',
      severity: 'critical',
      symptom: `the auto-unseal backend ${options.sealBackend} does not answer: ${backend.detail}`,
      evidence: { seal_backend: options.sealBackend, error: backend.detail },
      suggested_step:
        'restore the seal backend first (transit server, KMS endpoint, network path); nodes cannot unseal without it',
    });
  if (
    sealed.length === 0 &&
    unsealed.length > 0 &&
    !probes.some((p) => p.health && !p.health.sealed && !p.health.standby)
  )
    findings.push({
      id: 'no-active-node',
      severity: 'high',
      symptom: 'every reachable node is unsealed but none is active',
      evidence: { unsealed: unsealed.map((p) => p.node) },
      suggested_step: 'sealwatch runbook diagnose leader-election',
    });
  return findings;
}

/** Reads one KV v2 secret to prove the unsealed cluster serves data: the path given, or the first found. */
async function readSample(
  vault: VaultClient,
  verifyPath: string | undefined,
): Promise<{ path: string; version?: number }> {
  if (verifyPath) {
    const { mount, relative } = await vault.mountOf(verifyPath);
    const got = await vault.kv(mount).read(relative);
    return { path: verifyPath, ...(got?.metadata?.version ? { version: got.metadata.version } : {}) };
  }
  const mounts = await vault.listMounts();
  for (const [path, info] of Object.entries(mounts)) {
    if (info.type !== 'kv' || info.options?.['version'] !== '2') continue;
    const kv = vault.kv(path);
    let prefix = '';
    for (let depth = 0; depth < 8; depth++) {
      // A prefix this token may not list is skipped: another mount is tried, and none found is said.
      const keys = await kv.list(prefix).catch(() => [] as string[]);
      const leaf = keys.find((k) => !k.endsWith('/'));
      if (leaf) {
        const got = await kv.read(prefix + leaf);
        return {
          path: `${path}${prefix}${leaf}`,
          ...(got?.metadata?.version ? { version: got.metadata.version } : {}),
        };
      }
      const dir = keys.find((k) => k.endsWith('/'));
      if (!dir) break;
      prefix += dir;
    }
  }
  return { path: 'sys/mounts' };
}

export const sealedRunbook: Runbook<SealedOptions> = {
  name: 'sealed',
  title: 'Vault sealed',
  when: 'requests fail with "Vault is sealed" (503); nodes restarted; auto-unseal backend lost',
  flags: [
    {
      flags: '--seal-backend <url>',
      description: 'auto-unseal: the transit server / KMS endpoint to check',
      diagnose: true,
    },
    RESTART_COMMAND_FLAG,
    WAIT_FLAG,
    {
      flags: '--verify-path <path>',
      description: 'a KV secret to read once unsealed (default: the first one found)',
    },
  ],
  options: optionsSchema,
  diagnose: diagnoseSealed,
  remediation: (deps, options, diagnosis) => [
    {
      id: 'unseal',
      title: 'Unseal every sealed node',
      targetSeconds: 300,
      needsApproval: false,
      skip: async (ctx) =>
        (await diagnosis(ctx)).some((f) => f.id === 'node-sealed') ? undefined : 'no node is sealed',
      plan: async (ctx) =>
        (await diagnosis(ctx))
          .filter((f) => f.id === 'node-sealed')
          .map((f) => ({
            action:
              f.evidence['seal_type'] === 'shamir'
                ? `unseal ${f.node} with ${String(f.evidence['threshold'])} key shares`
                : options.restartCommand
                  ? `restart ${f.node} (${options.restartCommand}) and wait for auto-unseal`
                  : `wait for ${f.node} to auto-unseal after the operator restarts it`,
          })),
      run: async (ctx) => {
        const probes = await probeNodes(deps.vault);
        const sealed = probes.filter((p) => p.seal?.sealed && p.seal.initialized);
        const shamir = sealed.filter((p) => p.seal!.type === 'shamir');
        const auto = sealed.filter((p) => p.seal!.type !== 'shamir');
        const shares =
          shamir.length > 0 ? await currentShares(deps, Math.max(...shamir.map((p) => p.seal!.t))) : [];
        for (const share of shares) ctx.sensitive?.(share);
        if (options.restartCommand)
          for (const p of auto) {
            ctx.progress(`restarting ${p.node}`);
            await runNodeCommand(options.restartCommand, p.node);
          }
        else if (auto.length > 0)
          ctx.progress(
            `${auto.map((p) => p.node).join(', ')}: ${AUTO_UNSEAL_HINT(auto[0]!.seal!.type)}; waiting`,
          );
        try {
          await waitForUnseal(deps.vault, {
            timeoutMs: options.waitMs,
            unsealKeys: shares,
            signal: ctx.signal,
            progress: ctx.progress,
          });
        } catch (error) {
          if (!(error instanceof BadRequestError)) throw error;
          // A wrong share: start the node's unseal over so nobody continues from a poisoned progress.
          await Promise.all(shamir.map((p) => deps.vault.unsealReset(p.node).catch(() => undefined)));
          throw new SealwatchError(
            'unseal_shares_rejected',
            `${error.node} refused the key shares (${error.serverErrors.join('; ') || shortError(error)}): they are not this cluster's current shares — after a rekey use the new ones; unseal progress was reset`,
            { cause: error },
          );
        }
        return { evidence: { unsealed: sealed.map((p) => p.node), shares_used: shares.length > 0 } };
      },
    },
    {
      id: 'verify-read',
      title: 'Verify secrets can be read',
      targetSeconds: 10,
      needsApproval: false,
      plan: async () => [{ action: `read ${options.verifyPath ?? 'one KV secret'} through the active node` }],
      run: async () => {
        const sample = await readSample(deps.vault, options.verifyPath);
        return { evidence: { read: sample.path, ...(sample.version ? { version: sample.version } : {}) } };
      },
    },
  ],
};
