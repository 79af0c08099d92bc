import { X509Certificate } from 'node:crypto';
import type { FindingSeverity } from '../finding.js';

const DAY_MS = 86_400_000;

/**
 * Days left before a certificate expires, and what that is worth: expired → critical, 7 days or
 * less → high, 14 or less → medium, 30 or less → low, more → info. A certificate issued for exactly
 * 30 days is already "within 30 days" a second later, so renewals should be issued for longer.
 */
export const EXPIRY_THRESHOLDS = [
  { days: 0, severity: 'critical' },
  { days: 7, severity: 'high' },
  { days: 14, severity: 'medium' },
  { days: 30, severity: 'low' },
] as const satisfies readonly { days: number; severity: FindingSeverity }[];

/** The warning horizon: a certificate with more days than this is fine. */
export const WARN_DAYS = 30;

export function daysLeft(notAfter: Date, now: Date): number {
  return (notAfter.getTime() - now.getTime()) / DAY_MS;
}

export function expirySeverity(days: number): FindingSeverity {
  for (const t of EXPIRY_THRESHOLDS) if (days <= t.days) return t.severity;
  return 'info';
}

/** One decimal, for evidence and messages ("4.9 days"). */
export const roundDays = (days: number) => Math.round(days * 10) / 10;

/** The facts about one certificate that findings and steps show. Never holds key material. */
export interface CertificateSummary {
  subject: string;
  common_name: string | undefined;
  issuer: string;
  /** `DNS:localhost`, `IP Address:127.0.0.1`, … as X.509 writes them. */
  sans: string[];
  serial: string;
  not_before: string;
  not_after: string;
  days_left: number;
  fingerprint_sha256: string;
  self_signed: boolean;
}

const oneLine = (dn: string) => dn.split('\n').filter(Boolean).join(', ');

function commonName(dn: string): string | undefined {
  for (const line of dn.split('\n')) if (line.startsWith('CN=')) return line.slice(3);
  return undefined;
}

export function parseSans(subjectAltName: string | undefined): string[] {
  if (!subjectAltName) return [];
  return subjectAltName
    .split(/,\s*/)
    .map((s) => s.trim())
    .filter(Boolean);
}

export function summarize(cert: X509Certificate, now: Date): CertificateSummary {
  const notAfter = new Date(cert.validTo);
  return {
    subject: oneLine(cert.subject),
    common_name: commonName(cert.subject),
    issuer: oneLine(cert.issuer),
    sans: parseSans(cert.subjectAltName),
    serial: cert.serialNumber,
    not_before: new Date(cert.validFrom).toISOString(),
    not_after: notAfter.toISOString(),
    days_left: roundDays(daysLeft(notAfter, now)),
    fingerprint_sha256: cert.fingerprint256,
    self_signed: cert.checkIssued(cert) && cert.verify(cert.publicKey),
  };
}

/** DNS names and IP addresses of a certificate's SANs, as the PKI issue endpoint takes them. */
export function sanLists(sans: readonly string[]): { dns: string[]; ips: string[] } {
  const dns: string[] = [];
  const ips: string[] = [];
  for (const san of sans) {
    if (san.startsWith('DNS:')) dns.push(san.slice(4));
    else if (san.startsWith('IP Address:')) ips.push(san.slice(11));
  }
  return { dns, ips };
}

const PEM_BLOCK = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g;

/** Every certificate in a PEM text (a cert auth entry or a listener's file may hold a chain). */
export function parsePemCertificates(pem: string): X509Certificate[] {
  return (pem.match(PEM_BLOCK) ?? []).map((block) => new X509Certificate(block));
}
