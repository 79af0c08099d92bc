import { randomBytes, randomUUID } from 'node:crypto';
import type { RotationConfig } from '../../config/rotation.schema.js';
import { randomPassword } from '../../secrets/generators.js';
import { RotationError } from '../rotation.errors.js';
import type { Rotator, SecretData } from '../rotator.js';

type FieldSpecs = RotationConfig['targets']['kv']['fields'];
type FieldSpec = FieldSpecs[string];

/** Fields rotated when the config names none: the usual names of a generic credential. */
const DEFAULT_FIELDS: FieldSpecs = {
  password: { type: 'password', length: 32 },
  secret: { type: 'password', length: 32 },
};

export function generateValue(spec: FieldSpec): string {
  switch (spec.type) {
    case 'password':
      return randomPassword(spec.length);
    case 'hex':
      return randomBytes(Math.ceil(spec.length / 2))
        .toString('hex')
        .slice(0, spec.length);
    case 'base64url':
      return randomBytes(spec.length).toString('base64url').slice(0, spec.length);
    case 'uuid':
      return randomUUID();
  }
}

/**
 * A generic secret kept only in Vault: the fields named in `rotation.targets.kv.fields` get new
 * values from their generator spec; everything else is kept. Consumers read Vault, so applying
 * is Vault's business, and verification checks the staged value is what the specs say.
 */
export function createKvRotator(config: RotationConfig['targets']['kv']): Rotator {
  const specs = Object.keys(config.fields).length > 0 ? config.fields : DEFAULT_FIELDS;
  const rotated = (current: SecretData) => Object.keys(specs).filter((field) => field in current);
  return {
    kind: 'kv',
    targetOf: () => 'vault-only',
    async generate(ref, current) {
      const fields = rotated(current);
      if (fields.length === 0)
        throw new RotationError(
          ref.tenant,
          'kv',
          'generate',
          `${ref.path} has none of the fields to rotate (${Object.keys(specs).join(', ')})`,
        );
      return { ...current, ...Object.fromEntries(fields.map((f) => [f, generateValue(specs[f]!)])) };
    },
    async apply() {},
    async verify({ ref, current, next }) {
      for (const field of rotated(current))
        if (!next[field] || next[field] === current[field])
          throw new RotationError(ref.tenant, 'kv', 'verify', `field ${field} of ${ref.path} did not change`);
    },
    async finalize() {},
    async rollback() {},
  };
}
