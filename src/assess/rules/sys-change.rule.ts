import { findingOf, isPermissionDenied, type SuspicionRule } from '../rule.js';

/**
 * Changes to the server's own configuration: what an intruder does to keep access or hide. Each
 * kind is matched on the request path and operation; refused attempts count too (they show intent).
 */
const KINDS: readonly { pattern: RegExp; operations?: readonly string[]; what: string }[] = [
  { pattern: /^sys\/audit\//, operations: ['delete'], what: 'audit device disabled' },
  { pattern: /^sys\/audit\//, what: 'audit device changed' },
  {
    pattern: /^sys\/(policy|policies\/(acl|rgp|egp|password))\//,
    operations: ['delete'],
    what: 'policy deleted',
  },
  { pattern: /^sys\/(policy|policies\/(acl|rgp|egp|password))\//, what: 'policy written' },
  { pattern: /^sys\/auth\/[^/]+\/tune$/, what: 'auth method tuned' },
  { pattern: /^sys\/auth\//, operations: ['delete'], what: 'auth method disabled' },
  { pattern: /^sys\/auth\//, what: 'auth method enabled' },
  { pattern: /^sys\/mounts\/.+\/tune$/, what: 'secrets engine tuned' },
  { pattern: /^sys\/mounts\//, operations: ['delete'], what: 'secrets engine disabled' },
  { pattern: /^sys\/mounts\//, what: 'secrets engine enabled' },
  { pattern: /^sys\/remount$/, what: 'secrets engine moved' },
  { pattern: /^sys\/(seal|unseal|step-down)$/, what: 'seal state changed' },
  {
    pattern: /^sys\/(rotate|rekey|generate-root|generate-root-token|rotate\/root)(\/|$)/,
    what: 'keys or root token regenerated',
  },
  { pattern: /^sys\/raw\//, what: 'raw storage written' },
  { pattern: /^sys\/config\//, what: 'server configuration changed' },
];

export const sysChangeRule = {
  id: 'sys-change',
  severity: 'high',
  explanation:
    'server configuration changed under sys/ (audit devices, policies, auth methods, mounts, seal)',
  async detect({ data }) {
    const findings = [];
    for (const event of await data.sysWrites()) {
      const path = event.path ?? '';
      const kind = KINDS.find(
        (k) => k.pattern.test(path) && (!k.operations || k.operations.includes(event.operation ?? '')),
      );
      if (!kind) continue;
      const outcome =
        event.error === null ? '' : isPermissionDenied(event.error) ? ' (refused)' : ' (failed)';
      findings.push(findingOf(event, `${kind.what}${outcome}`));
    }
    return { findings };
  },
} as const satisfies SuspicionRule<'sys-change'>;
