import { InvalidArgumentError } from 'commander';
import { isRotatorKind, ROTATOR_KINDS, type RotatorKind } from '../rotate/rotator.js';

/** Commander parser for counts and limits: a whole number, 0 or more. */
export function positiveInt(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0) throw new InvalidArgumentError('must be a whole number');
  return n;
}

/** Commander parser for `--kinds ssh,smtp`: every name must be a kind sealwatch rotates. */
export function rotatorKinds(value: string): RotatorKind[] {
  const names = value
    .split(',')
    .map((k) => k.trim())
    .filter(Boolean);
  const unknown = names.filter((k) => !isRotatorKind(k));
  if (unknown.length > 0)
    throw new InvalidArgumentError(`unknown kind ${unknown.join(', ')} (kinds: ${ROTATOR_KINDS.join(', ')})`);
  return names.filter(isRotatorKind);
}
