import type { Config } from '../config/load.js';
import { SealwatchError, errorMessage } from '../errors.js';
import { listTenants } from '../tenants/tenant-source.js';
import type { VaultClient } from '../vault/client.js';
import type { AssessDeps, AssessRequest, AssessScope } from './assess.service.js';
import { createCouldRead, type CouldReadEvaluator } from './could-read.js';
import { parseSuspects, resolveSuspects, responderAccessors } from './suspects.js';

export interface ScopeInputDeps {
  vault: Pick<
    VaultClient,
    | 'listAuditDevices'
    | 'auditHash'
    | 'tokenLookup'
    | 'tokenLookupSelf'
    | 'mountOf'
    | 'list'
    | 'readPolicy'
    | 'read'
  >;
  config: Pick<Config, 'tenancy'>;
  /** The leaked token of `--suspect token-stdin`. */
  readTokenStdin?: () => Promise<string>;
  /** Whether to ask Vault for the responder's own accessor (default true; false without a token). */
  lookUpResponder?: boolean;
}

/**
 * What `assess` needs from Vault beyond the audit store for suspects and scopes: the suspects
 * resolved (accessors and tokens hashed by the audit devices), the responder's own accessor, and
 * the tenancy source for `--scope all`. Shared by `sealwatch assess` and the breach playbook.
 */
export async function scopeInputs(
  input: { suspects: readonly string[]; scope: AssessScope },
  deps: ScopeInputDeps,
): Promise<{
  request: Pick<AssessRequest, 'suspects' | 'scope' | 'responderAccessors'>;
  allTenants: AssessDeps['allTenants'];
  /** Could-read of implicated actors; absent without a token (lookUpResponder false). */
  couldRead?: CouldReadEvaluator;
}> {
  const suspects = await resolveSuspects(parseSuspects(input.suspects), {
    vault: deps.vault,
    ...(deps.readTokenStdin ? { readTokenStdin: deps.readTokenStdin } : {}),
  });
  const responder = async () => {
    try {
      return { accessors: await responderAccessors(deps.vault), note: null };
    } catch (error) {
      // Conservative scope without it would count the responder as a reader of every tenant it touched.
      if (input.scope === 'conservative')
        throw new SealwatchError(
          'responder_unknown',
          `--scope conservative: could not look up this token's accessor (auth/token/lookup-self): ${errorMessage(error)}`,
        );
      // Elsewhere it only counts readers for the scope warning: said, not fatal.
      return {
        accessors: [],
        note: `could not look up this token's accessor (auth/token/lookup-self: ${errorMessage(error)}): the responder's own reads count as a reader`,
      };
    }
  };
  return {
    request: {
      suspects,
      scope: input.scope,
      ...(deps.lookUpResponder === false && input.scope !== 'conservative'
        ? {}
        : { responderAccessors: responder }),
    },
    allTenants: async () => (await listTenants(deps.config, deps.vault)).counted,
    ...(deps.lookUpResponder === false ? {} : { couldRead: createCouldRead(deps) }),
  };
}
