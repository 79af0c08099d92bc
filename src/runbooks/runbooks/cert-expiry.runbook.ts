import { createPrivateKey, X509Certificate } from 'node:crypto';
import { constants, accessSync, existsSync, readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { z } from 'zod';
import { SealwatchError, UsageError, systemErrorCode } from '../../errors.js';
import type { StepContext } from '../../playbook/step.js';
import { localKeyFileStore } from '../../rotate/rotators/authorized-keys.js';
import { waitFor } from '../../util/wait.js';
import {
  parsePemCertificates,
  roundDays,
  daysLeft,
  sanLists,
  summarize,
  WARN_DAYS,
} from '../cert-expiry/certificate.js';
import { diagnoseClientCertificates } from '../cert-expiry/client-certs.js';
import { diagnoseListeners, isRenewable, listenerTargets } from '../cert-expiry/listeners.js';
import { describeReload, reload, ReloadError, reloadPlan } from '../cert-expiry/reload.js';
import { isAlive } from '../../util/processes.js';
import { parseListener, probeTls, type ListenerAddress } from '../cert-expiry/tls-probe.js';
import type { Finding } from '../finding.js';
import { shortError } from '../nodes.js';
import type { Diagnosis, Runbook, RunbookDeps } from '../runbook.js';

/** A diagnosis answers in under 3 s: a listener that hangs costs at most this. */
const HANDSHAKE_TIMEOUT_MS = 2_000;

const commaList = z.preprocess(
  (v) =>
    typeof v === 'string'
      ? v
          .split(',')
          .map((s) => s.trim())
          .filter(Boolean)
      : v,
  z.array(z.string().min(1)),
);

const absolutePath = z
  .string()
  .min(1)
  .transform((p) => resolve(p));

const optionsSchema = z.object({
  /** Extra TLS listeners (host:port) besides the https:// addresses: a cluster port, a proxy. */
  listener: z
    .array(z.string().refine((v) => parseListener(v) !== undefined, 'give host:port, e.g. 127.0.0.1:8201'))
    .default([]),
  pkiMount: z
    .string()
    .min(1)
    .transform((m) => m.replace(/^\/+|\/+$/g, ''))
    .optional(),
  pkiRole: z.string().min(1).optional(),
  /** Default: the common name and SANs of the certificate the listener serves now. */
  commonName: z.string().min(1).optional(),
  altNames: commaList.optional(),
  ipSans: commaList.optional(),
  /** Longer than the 30-day warning, or the new certificate would be flagged at once. */
  ttl: z
    .string()
    .regex(/^\d+[smhd]$/, 'a duration such as 2160h or 90d')
    .default('2160h'),
  certFile: absolutePath.optional(),
  keyFile: absolutePath.optional(),
  reloadPid: z.array(z.int().positive()).optional(),
  reloadCommand: z.string().min(1).optional(),
  /** How long the listeners get to serve the new certificate after the reload. */
  waitMs: z.int().min(1_000).default(30_000),
});
type CertExpiryOptions = z.infer<typeof optionsSchema>;

async function diagnoseCertExpiry(deps: RunbookDeps, options: CertExpiryOptions): Promise<Finding[]> {
  const now = new Date();
  const findings: Finding[] = [];
  const caFile = deps.config.vault.caFile;
  let caPem: string | undefined;
  if (caFile)
    try {
      caPem = readFileSync(caFile, 'utf8');
    } catch (error) {
      findings.push({
        id: 'ca-file-unreadable',
        severity: 'low',
        symptom: `the configured CA file ${caFile} cannot be read (${systemErrorCode(error) ?? shortError(error)}); chains are checked against the system roots`,
        evidence: { ca_file: caFile },
        suggested_step: 'fix vault.tls.ca_file in the sealwatch configuration',
      });
    }
  const targets = listenerTargets(deps.vault.addresses, options.listener);
  if (targets.length === 0)
    findings.push({
      id: 'no-tls-listener',
      severity: 'info',
      symptom:
        'no https:// address is configured and no --listener was given: no listener certificate to check',
      evidence: { addresses: [...deps.vault.addresses] },
      suggested_step: 'give the TLS listeners with --listener host:port',
    });
  const [listeners, clients] = await Promise.all([
    diagnoseListeners(targets, {
      timeoutMs: HANDSHAKE_TIMEOUT_MS,
      now,
      ...(caPem !== undefined && caFile ? { caPem, caLabel: caFile } : {}),
    }),
    diagnoseClientCertificates(deps.vault, now),
  ]);
  return [...findings, ...listeners, ...clients];
}

/** What the renewal reads back from a journalled listener finding. */
const renewTargetSchema = z.object({
  listener: z.string(),
  fingerprint_sha256: z.string(),
  common_name: z.string().optional(),
  sans: z.array(z.string()).default([]),
});
type RenewTarget = z.infer<typeof renewTargetSchema> & { address: ListenerAddress };

/** The listeners this run renews: those whose certificate expires within 30 days (or is not yet valid). */
async function renewable(diagnosis: Diagnosis, ctx: StepContext): Promise<RenewTarget[]> {
  return (await diagnosis(ctx)).filter(isRenewable).flatMap((finding) => {
    const parsed = renewTargetSchema.safeParse(finding.evidence);
    const address = parsed.success ? parseListener(parsed.data.listener) : undefined;
    return parsed.success && address ? [{ ...parsed.data, address }] : [];
  });
}

const NOTHING_TO_RENEW = `no listener certificate expires within ${WARN_DAYS} days`;

/** The flags a renewal cannot do without; checked before anything is issued or written. */
function required(options: CertExpiryOptions) {
  const missing = [
    options.pkiMount ? undefined : '--pki-mount M',
    options.pkiRole ? undefined : '--pki-role R',
    options.certFile ? undefined : '--cert-file F',
    options.keyFile ? undefined : '--key-file F',
  ].filter((m): m is string => m !== undefined);
  const { pkiMount: mount, pkiRole: role, certFile, keyFile } = options;
  if (!mount || !role || !certFile || !keyFile)
    throw new UsageError(
      `cert-expiry: renewing a listener certificate needs ${missing.join(', ')}; nothing was written`,
    );
  return { mount, role, certFile, keyFile };
}

/** Common name and SANs: as given, else those of the certificate the first expiring listener serves. */
function subjectFor(options: CertExpiryOptions, targets: readonly RenewTarget[]) {
  const current = targets[0];
  const sans = sanLists(current?.sans ?? []);
  const commonName = options.commonName ?? current?.common_name;
  if (!commonName)
    throw new UsageError(
      'cert-expiry: the served certificate has no common name to renew: give --common-name (and --alt-names, --ip-sans)',
    );
  return {
    commonName,
    altNames: options.altNames ?? sans.dns.filter((d) => d !== commonName),
    ipSans: options.ipSans ?? sans.ips,
  };
}

function writable(file: string): string | undefined {
  try {
    accessSync(existsSync(file) ? file : dirname(file), constants.W_OK);
    return undefined;
  } catch (error) {
    return `${file} cannot be written (${systemErrorCode(error) ?? shortError(error)})`;
  }
}

interface Issued {
  certificate: string;
  private_key: string;
  ca_chain?: string[];
  issuing_ca?: string;
  serial_number: string;
}

/** The certificate file a listener serves: the leaf, then the intermediates (never the root). */
function certificateFile(issued: Issued): string {
  const chain = (issued.ca_chain ?? (issued.issuing_ca ? [issued.issuing_ca] : []))
    .flatMap((pem) => parsePemCertificates(pem))
    .filter((c) => !(c.checkIssued(c) && c.verify(c.publicKey)));
  return [issued.certificate.trim(), ...chain.map((c) => c.toString().trim())].join('\n') + '\n';
}

/** Whether the files already hold a renewed pair (a resumed run after the write). */
function alreadyInstalled(certFile: string, keyFile: string, served: ReadonlySet<string>) {
  try {
    const leaf = parsePemCertificates(readFileSync(certFile, 'utf8'))[0];
    if (!leaf || served.has(leaf.fingerprint256)) return undefined;
    if (daysLeft(new Date(leaf.validTo), new Date()) <= WARN_DAYS) return undefined;
    if (!leaf.checkPrivateKey(createPrivateKey(readFileSync(keyFile)))) return undefined;
    return leaf;
  } catch {
    // Absent, unreadable or not matching: not installed yet, so the step installs it.
    return undefined;
  }
}

function fileFingerprint(file: string): string | undefined {
  try {
    return parsePemCertificates(readFileSync(file, 'utf8'))[0]?.fingerprint256;
  } catch {
    // No readable certificate there: nothing to compare with, the caller treats it as different.
    return undefined;
  }
}

export const certExpiryRunbook: Runbook<CertExpiryOptions> = {
  name: 'cert-expiry',
  title: 'TLS certificate expiry',
  when: 'clients report x509 "certificate has expired"; a listener certificate or a cert auth client certificate is near its end',
  flags: [
    {
      flags: '--listener <host:port>',
      description: 'another TLS listener to check (repeatable), e.g. a cluster port',
      diagnose: true,
      parse: (value, previous) => [...((previous as string[] | undefined) ?? []), value],
    },
    {
      flags: '--pki-mount <mount>',
      description: 'PKI secrets engine that issues the new listener certificate',
    },
    { flags: '--pki-role <role>', description: 'PKI role to issue it with' },
    {
      flags: '--common-name <name>',
      description: 'common name of the new certificate (default: that of the served one)',
    },
    { flags: '--alt-names <names>', description: 'DNS SANs, comma-separated (default: the served ones)' },
    { flags: '--ip-sans <ips>', description: 'IP SANs, comma-separated (default: the served ones)' },
    { flags: '--ttl <duration>', description: 'lifetime of the new certificate (default 2160h = 90 days)' },
    { flags: '--cert-file <file>', description: "the listener's tls_cert_file, replaced atomically" },
    {
      flags: '--key-file <file>',
      description: "the listener's tls_key_file, replaced atomically, mode 0600",
    },
    {
      flags: '--reload-pid <pid>',
      description:
        'server process to SIGHUP after writing (repeatable; default on a lab: the node reading the file)',
      parse: (value, previous) => [...((previous as number[] | undefined) ?? []), Number(value)],
    },
    { flags: '--reload-command <cmd>', description: 'command that reloads the server instead of SIGHUP' },
  ],
  options: optionsSchema,
  diagnose: diagnoseCertExpiry,
  // Client certificates are the clients' to renew: reported, not a reason for the run to fail.
  healthy: (findings) => findings.every((f) => f.severity === 'info' || !f.id.startsWith('listener-')),
  remediation: (deps, options, diagnosis) => {
    const skip = async (ctx: StepContext) =>
      (await renewable(diagnosis, ctx)).length > 0 ? undefined : NOTHING_TO_RENEW;
    const nodeHosts = deps.site?.nodeHosts;
    return [
      {
        id: 'check-pki',
        title: 'Check the PKI mount, the role, the files and the process to reload',
        targetSeconds: 5,
        needsApproval: false,
        skip,
        plan: async () => [
          {
            action: `check that PKI mount ${options.pkiMount ?? '(--pki-mount)'} and role ${options.pkiRole ?? '(--pki-role)'} exist and that ${options.certFile ?? '(--cert-file)'} and ${options.keyFile ?? '(--key-file)'} can be written`,
          },
        ],
        run: async () => {
          const { mount, role, certFile, keyFile } = required(options);
          const mounts = await deps.vault.listMounts();
          const found = mounts[`${mount}/`];
          if (!found || found.type !== 'pki') {
            const pki = Object.entries(mounts)
              .filter(([, m]) => m.type === 'pki')
              .map(([p]) => p.replace(/\/$/, ''));
            throw new SealwatchError(
              'pki_mount_missing',
              `PKI mount ${mount}/ ${found ? `is a ${found.type} mount, not pki` : 'does not exist'} (PKI mounts: ${pki.join(', ') || 'none'}); nothing was written — run again with --pki-mount set to a PKI mount, or enable this one and resume the incident`,
              { details: { mount, pki_mounts: pki } },
            );
          }
          const roleConfig = await deps.vault.readOptional<{
            max_ttl?: number | string;
            allow_ip_sans?: boolean;
          }>(`${mount}/roles/${role}`);
          if (!roleConfig)
            throw new SealwatchError(
              'pki_role_missing',
              `PKI role ${role} does not exist on ${mount}/ (list them: bao list ${mount}/roles); nothing was written`,
              { details: { mount, role } },
            );
          const unwritable = [certFile, keyFile].map(writable).filter((m): m is string => m !== undefined);
          if (unwritable.length > 0)
            throw new SealwatchError(
              'certificate_file_unwritable',
              `${unwritable.join('; ')}; nothing was written`,
            );
          const plan = reloadPlan({ ...options, certFile, nodeHosts });
          if (plan.kind === 'signal') {
            const dead = plan.pids.filter((pid) => !isAlive(pid));
            if (dead.length > 0)
              throw new ReloadError(`no process with pid ${dead.join(', ')} to reload; nothing was written`);
          }
          return {
            evidence: {
              pki_mount: mount,
              role,
              role_max_ttl: roleConfig.data.max_ttl ?? null,
              reload: describeReload(plan),
            },
          };
        },
      },
      {
        id: 'install-certificate',
        title: 'Issue a new certificate from the PKI mount and write it where the listener reads it',
        targetSeconds: 10,
        needsApproval: true,
        skip,
        plan: async (ctx) => {
          const targets = await renewable(diagnosis, ctx);
          const subject = (() => {
            try {
              return subjectFor(options, targets);
            } catch {
              // Plan only: without the flags the subject is not shown; run refuses them with the reason.
              return undefined;
            }
          })();
          const sans = subject ? [...subject.altNames, ...subject.ipSans] : [];
          return [
            {
              action: `issue a certificate for ${subject?.commonName ?? '(--common-name)'}${sans.length ? ` (SANs ${sans.join(', ')})` : ''} from ${options.pkiMount ?? '(--pki-mount)'}/issue/${options.pkiRole ?? '(--pki-role)'}, ttl ${options.ttl}`,
              details: { listeners: targets.map((t) => t.listener) },
            },
            {
              action: `replace ${options.certFile ?? '(--cert-file)'} and ${options.keyFile ?? '(--key-file)'} (mode 0600), each in one rename`,
              destructive: true,
            },
          ];
        },
        run: async (ctx) => {
          const { mount, role, certFile, keyFile } = required(options);
          const targets = await renewable(diagnosis, ctx);
          const served = new Set(targets.map((t) => t.fingerprint_sha256));
          const previous = fileFingerprint(certFile);
          const done = alreadyInstalled(certFile, keyFile, served);
          if (done) {
            const s = summarize(done, new Date());
            ctx.progress(
              `${certFile} already holds a renewed certificate (${s.serial}, ${s.days_left} days left)`,
            );
            return {
              evidence: {
                cert_file: certFile,
                key_file: keyFile,
                already_installed: true,
                serial: s.serial,
                not_after: s.not_after,
              },
              outputs: { fingerprint_sha256: s.fingerprint_sha256, not_after: s.not_after },
            };
          }
          const subject = subjectFor(options, targets);
          const response = await deps.vault.write<Issued>(`${mount}/issue/${role}`, {
            common_name: subject.commonName,
            ...(subject.altNames.length ? { alt_names: subject.altNames.join(',') } : {}),
            ...(subject.ipSans.length ? { ip_sans: subject.ipSans.join(',') } : {}),
            ttl: options.ttl,
          });
          const issued = response?.data;
          if (!issued?.certificate || !issued.private_key)
            throw new SealwatchError(
              'pki_issue_failed',
              `${mount}/issue/${role} returned no certificate; nothing was written`,
            );
          ctx.sensitive?.(issued.private_key);
          const leaf = new X509Certificate(issued.certificate);
          const s = summarize(leaf, new Date());
          if (s.days_left <= WARN_DAYS)
            throw new SealwatchError(
              'certificate_too_short',
              `${mount}/issue/${role} issued a certificate valid for only ${s.days_left} days (asked ${options.ttl}): within the ${WARN_DAYS}-day warning; raise the role's max_ttl (bao write ${mount}/roles/${role} max_ttl=2160h) or the mount's max lease TTL, then resume; nothing was written`,
              { details: { serial: s.serial, not_after: s.not_after } },
            );
          if (!leaf.checkPrivateKey(createPrivateKey(issued.private_key)))
            throw new SealwatchError(
              'pki_issue_failed',
              'the issued key does not match the certificate; nothing was written',
            );
          // The key first: between the two renames the server still runs on what it loaded before.
          const keyStore = localKeyFileStore;
          const keyOwner = (await keyStore.read(keyFile)) ?? (await keyStore.defaults(keyFile));
          await keyStore.replace(keyFile, {
            content: issued.private_key.trim() + '\n',
            mode: 0o600,
            uid: keyOwner.uid,
            gid: keyOwner.gid,
          });
          const certOwner = (await keyStore.read(certFile)) ?? {
            ...(await keyStore.defaults(certFile)),
            mode: 0o644,
          };
          await keyStore.replace(certFile, {
            content: certificateFile(issued),
            mode: certOwner.mode,
            uid: certOwner.uid,
            gid: certOwner.gid,
          });
          ctx.progress(`wrote ${certFile} (serial ${s.serial}, until ${s.not_after}) and ${keyFile}`);
          return {
            evidence: {
              cert_file: certFile,
              key_file: keyFile,
              common_name: subject.commonName,
              sans: s.sans,
              serial: s.serial,
              not_after: s.not_after,
              days_left: s.days_left,
              fingerprint_sha256: s.fingerprint_sha256,
              ...(previous ? { previous_fingerprint_sha256: previous } : {}),
              ...(response?.warnings?.length ? { pki_warnings: response.warnings } : {}),
            },
            outputs: { fingerprint_sha256: s.fingerprint_sha256, not_after: s.not_after },
          };
        },
      },
      {
        id: 'reload-server',
        title: 'Reload the server so the listener serves the new certificate',
        targetSeconds: 5,
        needsApproval: false,
        skip,
        plan: async () => {
          if (!options.certFile && !options.reloadCommand && !options.reloadPid?.length)
            return [{ action: 'reload the server that reads --cert-file (give --cert-file)' }];
          try {
            return [
              {
                action: describeReload(
                  reloadPlan({ ...options, certFile: options.certFile ?? '', nodeHosts }),
                ),
              },
            ];
          } catch (error) {
            return [{ action: `reload: ${shortError(error)}` }];
          }
        },
        run: async (ctx) => {
          const { certFile } = required(options);
          const plan = reloadPlan({ ...options, certFile, nodeHosts });
          ctx.progress(describeReload(plan));
          await reload(plan);
          return { evidence: { reload: describeReload(plan) } };
        },
      },
      {
        id: 'verify-certificate',
        title: 'Verify over a fresh TLS handshake that each listener serves the new certificate',
        targetSeconds: 30,
        needsApproval: false,
        skip,
        plan: async (ctx) => [
          {
            action: `handshake with ${(await renewable(diagnosis, ctx)).map((t) => t.listener).join(', ')} until each serves the new certificate`,
          },
        ],
        run: async (ctx) => {
          const { certFile } = required(options);
          const installed =
            z.string().optional().parse(ctx.outputs['install-certificate']?.['fingerprint_sha256']) ??
            fileFingerprint(certFile);
          if (!installed) throw new SealwatchError('certificate_missing', `${certFile} holds no certificate`);
          const targets = await renewable(diagnosis, ctx);
          const seen: Record<string, unknown>[] = [];
          for (const { listener: key, address: listener } of targets) {
            let last = 'no handshake yet';
            try {
              const probe = await waitFor(
                `${key} to serve the new certificate`,
                async () => {
                  const result = await probeTls(listener, { timeoutMs: 5_000 });
                  if (!result.ok) {
                    last = result.error;
                    return undefined;
                  }
                  last = `serves ${result.probe.leaf.fingerprint_sha256.slice(0, 23)}…, ${result.probe.leaf.days_left} days left`;
                  return result.probe.leaf.fingerprint_sha256 === installed ? result.probe : undefined;
                },
                { timeoutMs: options.waitMs, intervalMs: 250 },
              );
              seen.push({
                listener: key,
                serial: probe.leaf.serial,
                not_after: probe.leaf.not_after,
                days_left: roundDays(daysLeft(new Date(probe.leaf.not_after), new Date())),
              });
            } catch (error) {
              throw new SealwatchError(
                'certificate_not_served',
                `${key} does not serve the new certificate ${Math.round(options.waitMs / 1000)} s after the reload (${last}): check that its tls_cert_file is ${certFile} and that the reload reached it`,
                { cause: error, details: { listener: key } },
              );
            }
          }
          return { evidence: { listeners: seen } };
        },
      },
    ];
  },
};
