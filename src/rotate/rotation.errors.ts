import { SealwatchError, type SealwatchErrorOptions } from '../errors.js';
import type { RotatorKind } from './rotator.js';

/**
 * A rotation step failed for one secret. The message names the tenant, the kind and the phase, and
 * never a secret value: rotators build it from what they did, not from the data they handled.
 */
export class RotationError extends SealwatchError {
  constructor(
    readonly tenant: string,
    readonly kind: RotatorKind,
    readonly phase: string,
    reason: string,
    options: SealwatchErrorOptions = {},
  ) {
    super('rotation_failed', `${kind} of tenant ${tenant}: ${phase} failed: ${reason}`, {
      ...options,
      details: { tenant, kind, phase, ...(options.details ?? {}) },
    });
  }
}

/** A target refused or could not be reached while applying, verifying or finalizing. */
export class TargetError extends SealwatchError {
  constructor(message: string, options: SealwatchErrorOptions = {}) {
    super('target_failed', message, { retryable: true, ...options });
  }
}
