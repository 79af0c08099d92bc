/**
 * Where the lab keeps tenant secrets: the reference platform's layout. The generated
 * sealwatch.yaml points the tenancy model at exactly these templates.
 */
export const LAB_KV_MOUNT = 'secret';
export const LAB_TENANTS_PATH = 'secret/tenants';
export const LAB_TEST_TENANT = 'test-tenant-id';

export const LAB_TENANT_TEMPLATES = [
  'secret/tenants/{tenant}/profile',
  'secret/tenants/{tenant}/ssh',
  'secret/tenants/{tenant}/smtp',
  'secret/tenants/{tenant}/dkim',
  'secret/tenants/{tenant}/database',
  'secret/api_keys/{tenant}/{key_id}',
] as const;

/** What `sealwatch rotate` replaces in the lab, per kind. */
export const LAB_ROTATION_SECRETS = [
  { kind: 'ssh', path: 'secret/tenants/{tenant}/ssh' },
  { kind: 'smtp', path: 'secret/tenants/{tenant}/smtp' },
  { kind: 'apikey', path: 'secret/api_keys/{tenant}/{key_id}' },
  { kind: 'dkim', path: 'secret/tenants/{tenant}/dkim' },
  { kind: 'postgres', path: 'secret/tenants/{tenant}/database' },
] as const;

export function labTenantId(index: number): string {
  return `tenant-${String(index + 1).padStart(4, '0')}`;
}

export function labTenantDomain(tenant: string): string {
  return `${tenant}.mail.example`;
}
