import { durationFlag, type RunbookFlag } from './runbook.js';

/** Flags several runbooks take, defined once so that they mean and say the same everywhere. */
export const RESTART_COMMAND_FLAG: RunbookFlag = {
  flags: '--restart-command <cmd>',
  description: 'command that (re)starts a node outside a lab ({node} = its address)',
};

export const WAIT_FLAG: RunbookFlag = durationFlag(
  '--wait <duration>',
  'waitMs',
  'how long to wait for the cluster to be unsealed and active (default 2m)',
);
