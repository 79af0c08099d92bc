import { readFileSync } from 'node:fs';
import type { Config } from '../config/load.js';
import { ConfigError, describeSystemError } from '../errors.js';
import type { VaultClient } from '../vault/client.js';

export interface TenantListing {
  /** Every id the source knows, sorted. */
  all: string[];
  /** The ids that count: `all` without `tenancy.exclude`. */
  counted: string[];
  excluded: string[];
  source: string;
}

/** Lists tenants from the configured source: the children of a KV path, or a file of ids. */
export async function listTenants(
  config: Pick<Config, 'tenancy'>,
  vault: Pick<VaultClient, 'mountOf' | 'list'>,
): Promise<TenantListing> {
  const source = config.tenancy.source;
  if (!source)
    throw new ConfigError('tenancy.source is not set: say where tenants are listed (kind: kv or file)');
  let ids: string[];
  let described: string;
  if (source.kind === 'kv') {
    const { mount, kvVersion, relative } = await vault.mountOf(source.path);
    const listPath = kvVersion === 2 ? `${mount}/metadata/${relative}` : `${mount}/${relative}`;
    ids = (await vault.list(listPath)).map((k) => k.replace(/\/$/, ''));
    described = `kv ${source.path}`;
  } else {
    ids = readTenantFile(source.file);
    described = `file ${source.file}`;
  }
  const all = [...new Set(ids)].sort();
  const excluded = all.filter((id) => config.tenancy.exclude.has(id));
  return { all, counted: all.filter((id) => !config.tenancy.exclude.has(id)), excluded, source: described };
}

function readTenantFile(file: string): string[] {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (error) {
    throw new ConfigError(`tenancy.source.file ${file} cannot be read: ${describeSystemError(error)}`);
  }
  return text
    .split('\n')
    .map((line) => line.replace(/#.*/, '').trim())
    .filter(Boolean);
}
