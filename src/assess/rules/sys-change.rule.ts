import { findingOf, isPermissionDenied, type LiveEvent, type SuspicionRule } from '../rule.js';

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

const WRITES: ReadonlySet<string | null> = new Set(['create', 'update', 'delete']);

/**
 * What a call changed under sys/, or undefined: a response (so the outcome is known) of a write
 * whose path is one of KINDS. The stored-window query narrows to the same writes under sys/.
 */
export function sysChangeOf(
  event: Pick<LiveEvent, 'type' | 'operation' | 'path' | 'error'>,
): string | undefined {
  const path = event.path;
  if (event.type !== 'response' || !WRITES.has(event.operation) || path === null || !path.startsWith('sys/'))
    return undefined;
  const kind = KINDS.find(
    (k) => k.pattern.test(path) && (!k.operations || k.operations.includes(event.operation ?? '')),
  );
  if (!kind) return undefined;
  const outcome = event.error === null ? '' : isPermissionDenied(event.error) ? ' (refused)' : ' (failed)';
  return `${kind.what}${outcome}`;
}

export const sysChangeRule = {
  id: 'sys-change',
  severity: 'high',
  explanation:
    'server configuration changed under sys/ (audit devices, policies, auth methods, mounts, seal)',
  async detect({ data }) {
    const findings = [];
    for (const event of await data.sysWrites()) {
      const change = sysChangeOf(event);
      if (change !== undefined) findings.push(findingOf(event, change));
    }
    return { findings };
  },
  live: {
    labels: ['accessor', 'display_name', 'path'],
    runbook: null,
    start: () => ({
      observe: (event) => {
        const change = sysChangeOf(event);
        return change === undefined ? [] : [findingOf(event, change)];
      },
    }),
  },
} as const satisfies SuspicionRule<'sys-change'>;
