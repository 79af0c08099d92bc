import type { SuspicionRule } from '../rule.js';
import { loginBurstRule } from './login-burst.rule.js';
import { loginFailureRule } from './login-failure.rule.js';
import { manyTenantsRule } from './many-tenants.rule.js';
import { newAddressRule } from './new-address.rule.js';
import { permissionDeniedRule } from './permission-denied.rule.js';
import { requestErrorRule } from './request-error.rule.js';
import { revokedTokenUseRule } from './revoked-token-use.rule.js';
import { rootTokenRule } from './root-token.rule.js';
import { sysChangeRule } from './sys-change.rule.js';
import { tokenLongTtlRule } from './token-long-ttl.rule.js';

export type RuleId =
  | 'permission-denied'
  | 'request-error'
  | 'login-failure'
  | 'login-burst'
  | 'root-token'
  | 'many-tenants'
  | 'new-address'
  | 'sys-change'
  | 'token-long-ttl'
  | 'revoked-token-use';

/** Every detection rule, by id; the compiler checks each key names its rule. Adding a rule is one file and two lines here. */
export const RULES = {
  'permission-denied': permissionDeniedRule,
  'request-error': requestErrorRule,
  'login-failure': loginFailureRule,
  'login-burst': loginBurstRule,
  'root-token': rootTokenRule,
  'many-tenants': manyTenantsRule,
  'new-address': newAddressRule,
  'sys-change': sysChangeRule,
  'token-long-ttl': tokenLongTtlRule,
  'revoked-token-use': revokedTokenUseRule,
} as const satisfies { [Id in RuleId]: SuspicionRule<Id> };

export const RULE_LIST: readonly SuspicionRule<RuleId>[] = Object.values(RULES);
