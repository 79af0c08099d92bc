import pLimit from 'p-limit';
import type { VaultClient } from '../../vault/client.js';
import type { Finding } from '../finding.js';
import { shortError } from '../nodes.js';
import { expirySeverity, parsePemCertificates, summarize, WARN_DAYS } from './certificate.js';

/** Reads of certs/<name> in flight at once: a mount with hundreds of entries still answers in seconds. */
const READ_CONCURRENCY = 16;

/**
 * The trusted certificates of every `cert` auth mount (auth/<mount>/certs/<name>): one finding per
 * certificate that expires within 30 days (or has expired), one info finding per mount otherwise.
 * Clients whose certificates chain to an expired entry can no longer log in. Reading needs a token
 * that may list auth mounts and read the entries; without it the finding says so.
 */
export async function diagnoseClientCertificates(
  vault: Pick<VaultClient, 'listAuthMounts' | 'list' | 'read'>,
  now: Date,
): Promise<Finding[]> {
  let mounts: string[];
  try {
    mounts = Object.entries(await vault.listAuthMounts())
      .filter(([, info]) => info.type === 'cert')
      .map(([path]) => path);
  } catch (error) {
    return [
      {
        id: 'cert-auth-unreadable',
        severity: 'low',
        symptom: `could not list auth mounts to check cert auth client certificates: ${shortError(error)}`,
        evidence: { error: shortError(error) },
        suggested_step: 'run with a token that may read sys/auth and auth/<mount>/certs/*',
      },
    ];
  }
  const limit = pLimit(READ_CONCURRENCY);
  const perMount = await Promise.all(
    mounts.map(async (mount): Promise<Finding[]> => {
      let names: string[];
      try {
        names = await vault.list(`auth/${mount}certs`);
      } catch (error) {
        return [
          {
            id: 'cert-auth-unreadable',
            severity: 'low',
            symptom: `could not list the certificates of auth/${mount}: ${shortError(error)}`,
            evidence: { mount: `auth/${mount}`, error: shortError(error) },
            suggested_step: `run with a token that may list auth/${mount}certs`,
          },
        ];
      }
      const findings: Finding[] = [];
      let certificates = 0;
      let soonest: { name: string; days: number; not_after: string } | undefined;
      await Promise.all(
        names.map((name) =>
          limit(async () => {
            let pem: string;
            try {
              const entry = await vault.read<{ certificate?: string; display_name?: string }>(
                `auth/${mount}certs/${name}`,
              );
              pem = entry.data.certificate ?? '';
            } catch (error) {
              findings.push({
                id: 'cert-auth-unreadable',
                severity: 'low',
                symptom: `could not read auth/${mount}certs/${name}: ${shortError(error)}`,
                evidence: { mount: `auth/${mount}`, name, error: shortError(error) },
                suggested_step: `run with a token that may read auth/${mount}certs/${name}`,
              });
              return;
            }
            const parsed = (() => {
              try {
                return parsePemCertificates(pem);
              } catch {
                // Reported just below as a finding: the certificate does not parse.
                return undefined;
              }
            })();
            if (!parsed || parsed.length === 0) {
              findings.push({
                id: 'client-cert-unparseable',
                severity: 'low',
                symptom: `auth/${mount}certs/${name} holds no certificate sealwatch can parse`,
                evidence: { mount: `auth/${mount}`, name },
                suggested_step: `check the entry: bao read auth/${mount}certs/${name}`,
              });
              return;
            }
            for (const cert of parsed) {
              certificates++;
              const s = summarize(cert, now);
              if (!soonest || s.days_left < soonest.days)
                soonest = { name, days: s.days_left, not_after: s.not_after };
              const severity = expirySeverity(s.days_left);
              if (severity === 'info') continue;
              const expired = s.days_left <= 0;
              findings.push({
                id: expired ? 'client-cert-expired' : 'client-cert-expires-soon',
                severity,
                symptom: expired
                  ? `cert auth certificate auth/${mount}certs/${name} (${s.subject}) expired on ${s.not_after}: clients it trusts cannot log in`
                  : `cert auth certificate auth/${mount}certs/${name} (${s.subject}) expires in ${s.days_left} days (${s.not_after})`,
                evidence: {
                  mount: `auth/${mount}`,
                  name,
                  subject: s.subject,
                  issuer: s.issuer,
                  serial: s.serial,
                  not_after: s.not_after,
                  days_left: s.days_left,
                  certificates_in_entry: parsed.length,
                  fingerprint_sha256: s.fingerprint_sha256,
                },
                suggested_step: `issue the client a new certificate and write it to the role: bao write auth/${mount}certs/${name} certificate=@new.pem (keep its other fields)`,
              });
            }
          }),
        ),
      );
      findings.push({
        id: 'client-certs-checked',
        severity: 'info',
        symptom: `auth/${mount}: ${certificates} trusted certificate(s) in ${names.length} entr${names.length === 1 ? 'y' : 'ies'}${soonest ? `, the first to expire in ${soonest.days} days (${soonest.name})` : ''}`,
        evidence: {
          mount: `auth/${mount}`,
          entries: names.length,
          certificates,
          warn_days: WARN_DAYS,
          ...(soonest
            ? { soonest: soonest.name, soonest_not_after: soonest.not_after, soonest_days_left: soonest.days }
            : {}),
        },
        suggested_step: 'nothing to do for the entries not listed as expiring',
      });
      return findings;
    }),
  );
  return perMount.flat();
}
