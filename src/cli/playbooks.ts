import type { PlaybookRegistry } from '../playbook/registry.js';
import { breachPlaybook } from '../respond/breach.playbook.js';

/**
 * The playbooks this sealwatch can run and resume, by incident type.
 */
export const PLAYBOOKS = { breach: breachPlaybook } satisfies PlaybookRegistry;
