import type { PostureCheck } from '../check.js';
import { auditDevicesCheck } from './audit-devices.check.js';
import { authUnusedCheck } from './auth-unused.check.js';
import { policyAdminWriteCheck } from './policy-admin-write.check.js';
import { policyCrossTenantCheck } from './policy-cross-tenant.check.js';
import { policyGlobsCheck } from './policy-globs.check.js';
import { policySudoCheck } from './policy-sudo.check.js';
import { policyTokenCreateCheck } from './policy-token-create.check.js';
import { rootTokensCheck } from './root-tokens.check.js';
import { sealCheck } from './seal.check.js';
import { tlsCheck } from './tls.check.js';
import { tokenTtlCheck } from './token-ttl.check.js';
import { tokenRolesCheck } from './token-roles.check.js';
import { userpassTtlCheck } from './userpass-ttl.check.js';
import { policyUnusedCheck } from './policy-unused.check.js';
import { enginesUngrantedCheck } from './engines-ungranted.check.js';
import { enginesUnusedCheck } from './engines-unused.check.js';
import { wrappingCheck } from './wrapping.check.js';

/** Every posture check, in report order: one line per check file. */
export const POSTURE_CHECKS = [
  rootTokensCheck,
  tokenTtlCheck,
  authUnusedCheck,
  policyGlobsCheck,
  policySudoCheck,
  policyAdminWriteCheck,
  policyTokenCreateCheck,
  policyCrossTenantCheck,
  auditDevicesCheck,
  sealCheck,
  tlsCheck,
  tokenRolesCheck,
  userpassTtlCheck,
  policyUnusedCheck,
  enginesUngrantedCheck,
  enginesUnusedCheck,
  wrappingCheck,
] as const satisfies readonly PostureCheck[];

/** The check ids `--only` accepts, derived from the registry. */
export const POSTURE_CHECK_IDS: readonly string[] = POSTURE_CHECKS.map((c) => c.id);
