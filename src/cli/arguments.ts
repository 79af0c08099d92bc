import { InvalidArgumentError } from 'commander';

/** Commander parser for counts and limits: a whole number, 0 or more. */
export function positiveInt(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0) throw new InvalidArgumentError('must be a whole number');
  return n;
}
