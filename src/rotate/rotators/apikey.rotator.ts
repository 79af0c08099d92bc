import { createHash } from 'node:crypto';
import { appendFileSync, chmodSync, existsSync } from 'node:fs';
import type { RotationConfig } from '../../config/rotation.schema.js';
import { randomApiKey } from '../../secrets/generators.js';
import { RotationError } from '../rotation.errors.js';
import type { Rotator, SecretData } from '../rotator.js';

export const REVOKED = 'revoked';

export function hashApiKey(key: string): string {
  return createHash('sha256').update(key).digest('hex');
}

/**
 * API keys under `api_keys/<tenant>/<key_id>`: every key is revoked (the secret and all its
 * versions are deleted when retired, so the platform's key lookup no longer finds it). With
 * `issue_replacements` each key gets a replacement instead, stored only as a SHA-256 hash; its
 * clear value is written once to `issued_keys_file` (mode 0600) for the operator to hand over, and
 * nowhere else.
 */
export function createApiKeyRotator(config: RotationConfig['targets']['apikey']): Rotator {
  return {
    kind: 'apikey',
    targetOf: () => 'vault-only',
    async generate(ref, current): Promise<SecretData> {
      if (!config.issue_replacements) return { [REVOKED]: 'true', revoked_at: new Date().toISOString() };
      const file = config.issued_keys_file;
      if (!file)
        throw new RotationError(
          ref.tenant,
          'apikey',
          'generate',
          'rotation.targets.apikey.issued_keys_file is required to issue replacements',
        );
      const key = randomApiKey();
      const line = JSON.stringify({
        tenant: ref.tenant,
        path: ref.path,
        key,
        issued_at: new Date().toISOString(),
      });
      const fresh = !existsSync(file);
      appendFileSync(file, line + '\n', { mode: 0o600 });
      if (fresh) chmodSync(file, 0o600);
      const kept = Object.fromEntries(Object.entries(current).filter(([field]) => field !== 'key'));
      return {
        ...kept,
        key_hash: hashApiKey(key),
        key_prefix: key.slice(0, 12),
        created_at: new Date().toISOString(),
      };
    },
    async apply() {},
    async verify({ ref, next }) {
      if (next[REVOKED] === 'true') return;
      if (!/^[0-9a-f]{64}$/.test(next['key_hash'] ?? '') || 'key' in next)
        throw new RotationError(ref.tenant, 'apikey', 'verify', `${ref.path} would keep a clear key`);
    },
    async finalize() {},
    async rollback() {},
    removesSecret: (next: SecretData) => next[REVOKED] === 'true',
  };
}
