import { describe, expect, it } from 'vitest';
import { gauge, parsePrometheus } from './prometheus.js';

const TEXT = `# HELP vault_runtime_alloc_bytes vault_runtime_alloc_bytes
# TYPE vault_runtime_alloc_bytes gauge
vault_runtime_alloc_bytes 2.2214232e+07
vault_runtime_sys_bytes 4.9129752e+07
vault_expire_num_leases 9
vault_core_handle_login_request{quantile="0.5"} NaN
vault_core_handle_login_request_count 22
vault_token_creation{auth_method="approle",mount_point="auth/approle/",creation_ttl="1h"} 4
vault_token_creation{auth_method="token",mount_point="auth/token/",creation_ttl="+Inf"} 3
garbage line here
`;

describe('parsePrometheus', () => {
  const samples = parsePrometheus(TEXT);
  it('reads unlabelled gauges in exponent notation', () => {
    expect(gauge(samples, 'vault_runtime_alloc_bytes')).toBe(22_214_232);
    expect(gauge(samples, 'vault_expire_num_leases')).toBe(9);
    expect(gauge(samples, 'vault_missing')).toBeUndefined();
  });
  it('keeps labels and skips NaN and malformed lines', () => {
    expect(samples.get('vault_token_creation')).toEqual([
      { labels: { auth_method: 'approle', mount_point: 'auth/approle/', creation_ttl: '1h' }, value: 4 },
      { labels: { auth_method: 'token', mount_point: 'auth/token/', creation_ttl: '+Inf' }, value: 3 },
    ]);
    expect(samples.has('vault_core_handle_login_request')).toBe(false);
    expect(samples.has('garbage')).toBe(false);
  });
});
