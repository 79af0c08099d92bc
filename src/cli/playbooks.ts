import type { PlaybookRegistry } from '../playbook/registry.js';
import { POSTURE_FIX_INCIDENT_TYPE, postureFixPlaybook } from '../posture/fix.service.js';
import { breachPlaybook } from '../respond/breach.playbook.js';
import { RUNBOOK_PLAYBOOKS } from '../runbooks/registry.js';
import { autoResponsePlaybook } from '../watch/auto-response.js';

/**
 * The playbooks this sealwatch can run and resume, by incident type (`runbook:NAME` for each runbook).
 */
export const PLAYBOOKS = {
  breach: breachPlaybook,
  [POSTURE_FIX_INCIDENT_TYPE]: postureFixPlaybook,
  'watch-auto-response': autoResponsePlaybook,
  ...RUNBOOK_PLAYBOOKS,
} satisfies PlaybookRegistry;
