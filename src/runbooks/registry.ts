import type { PlaybookFactory } from '../playbook/registry.js';
import { runbookIncidentType, runbookPlaybook, type Runbook } from './runbook.js';
import { authFailuresRunbook } from './runbooks/auth-failures.runbook.js';
import { certExpiryRunbook } from './runbooks/cert-expiry.runbook.js';
import { clusterFailureRunbook } from './runbooks/cluster-failure.runbook.js';
import { memoryRunbook } from './runbooks/memory.runbook.js';
import { leaderElectionRunbook } from './runbooks/leader-election.runbook.js';
import { sealedRunbook } from './runbooks/sealed.runbook.js';
import { storageRunbook } from './runbooks/storage.runbook.js';
import { secretLeakRunbook } from './runbooks/secret-leak.runbook.js';

/**
 * Every runbook, by name, in the order `runbook list` shows them. Adding one is one file in
 * runbooks/ and one line here.
 */
export const RUNBOOKS = {
  sealed: sealedRunbook,
  'leader-election': leaderElectionRunbook,
  storage: storageRunbook,
  memory: memoryRunbook,
  'auth-failures': authFailuresRunbook,
  'cert-expiry': certExpiryRunbook,
  'secret-leak': secretLeakRunbook,
  'cluster-failure': clusterFailureRunbook,
} satisfies Record<string, Runbook>;

const BY_NAME: ReadonlyMap<string, Runbook> = new Map(Object.entries(RUNBOOKS));

export const RUNBOOK_NAMES: readonly string[] = [...BY_NAME.keys()];

export { runbookIncidentType };

export function runbookNamed(name: string): Runbook | undefined {
  return BY_NAME.get(name);
}

/** The playbooks of every runbook, for the incident registry (resume). */
export const RUNBOOK_PLAYBOOKS: Readonly<Record<string, PlaybookFactory>> = Object.fromEntries(
  [...BY_NAME].map(([name, runbook]) => [runbookIncidentType(name), runbookPlaybook(runbook)]),
);
