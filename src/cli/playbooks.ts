import type { PlaybookRegistry } from '../playbook/registry.js';
import { breachPlaybook } from '../respond/breach.playbook.js';
import { RUNBOOK_PLAYBOOKS } from '../runbooks/registry.js';
import { autoResponsePlaybook } from '../watch/auto-response.js';

/**
 * The playbooks this sealwatch can run and resume, by incident type (`runbook:NAME` for each runbook).
 */
export const PLAYBOOKS = {
  breach: breachPlaybook,
  'watch-auto-response': autoResponsePlaybook,
  ...RUNBOOK_PLAYBOOKS,
} satisfies PlaybookRegistry;
