import type { PlaybookRegistry } from '../playbook/registry.js';

/**
 * The playbooks this sealwatch can run and resume, by incident type. The respond capability adds
 * `breach: breachPlaybook` (src/respond/breach.playbook.ts) here.
 */
export const PLAYBOOKS = {} satisfies PlaybookRegistry;
