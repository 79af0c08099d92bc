import type { RotationConfig } from '../../config/rotation.schema.js';
import type { Logger } from '../../logging/logger.js';
import type { VaultClient } from '../../vault/client.js';
import type { Rotator, RotatorKind } from '../rotator.js';
import { createApiKeyRotator } from './apikey.rotator.js';
import { createDkimRotator } from './dkim.rotator.js';
import { createKvRotator } from './kv.rotator.js';
import { createPostgresRotator } from './postgres.rotator.js';
import { createSmtpRotator } from './smtp.rotator.js';
import { createSshRotator } from './ssh.rotator.js';

export interface RotatorDeps {
  vault: VaultClient;
  logger: Logger;
}

/** Every kind of secret sealwatch rotates, each built for its configured target. Adding a kind adds a line here. */
export function createRotators(config: RotationConfig, deps: RotatorDeps): Record<RotatorKind, Rotator> {
  const { targets } = config;
  return {
    ssh: createSshRotator(targets.ssh),
    smtp: createSmtpRotator(targets.smtp),
    apikey: createApiKeyRotator(targets.apikey),
    dkim: createDkimRotator(targets.dkim),
    postgres: createPostgresRotator(targets.postgres, { vault: deps.vault }),
    kv: createKvRotator(targets.kv),
  } satisfies Record<RotatorKind, Rotator>;
}
