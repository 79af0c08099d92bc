import type { Config } from '../config/load.js';
import { errorMessage } from '../errors.js';
import type { AccessMatrix, CouldNotRead } from '../policy/access-matrix.js';
import { readAccessMatrix, type PolicySet } from '../policy/policy-sources.js';
import { listTenants } from '../tenants/tenant-source.js';
import type { VaultClient } from '../vault/client.js';

/**
 * The effective access matrix over the tenant source's tenants (and the tenants policies name): what
 * `posture access`, the cross-tenant check and a breach scope's could-read use. A tenant list that
 * cannot be read is a could_not_read entry, and the matrix is still made from the named tenants.
 */
export async function tenantAccessMatrix(
  deps: { vault: VaultClient; config: Config },
  options: { only?: string; policySet?: PolicySet } = {},
): Promise<AccessMatrix> {
  const { config, vault } = deps;
  let tenants: string[] = [];
  let couldNotListTenants: CouldNotRead | undefined;
  const source = config.tenancy.source;
  if (source)
    try {
      tenants = (await listTenants(config, vault)).counted;
    } catch (error) {
      // Not fatal: the gap is reported in the matrix itself.
      couldNotListTenants = {
        what: 'the tenant list (tenancy.source)',
        capability: source.kind === 'kv' ? 'list' : 'read (file)',
        path: source.kind === 'kv' ? source.path : source.file,
        reason: errorMessage(error),
      };
    }
  return readAccessMatrix(
    { vault, config },
    {
      tenants,
      ...(couldNotListTenants ? { couldNotListTenants } : {}),
      ...(options.only === undefined ? {} : { only: options.only }),
      ...(options.policySet ? { policySet: options.policySet } : {}),
    },
  );
}
