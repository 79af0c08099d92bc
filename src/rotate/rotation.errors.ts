import { SealwatchError, type SealwatchErrorOptions } from '../errors.js';
import type { RotatorKind, SecretRef } from './rotator.js';

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

export interface FailureOptions {
  retryable?: boolean;
  cause?: unknown;
  /** Safe facts beside the target (an rcode, a SQLSTATE, a record name); never a secret value. */
  details?: Record<string, unknown>;
}

/** The error a rotator throws for one secret, its target named in the details. */
export function rotationFailure(kind: RotatorKind, target: string) {
  return (ref: SecretRef, phase: string, reason: string, options: FailureOptions = {}): RotationError =>
    new RotationError(ref.tenant, kind, phase, reason, {
      retryable: options.retryable ?? false,
      details: { target, ...options.details },
      ...(options.cause === undefined ? {} : { cause: options.cause }),
    });
}
