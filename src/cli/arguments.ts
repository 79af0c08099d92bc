import { InvalidArgumentError } from 'commander';
import { isRotatorKind, ROTATOR_KINDS, type RotatorKind } from '../rotate/rotator.js';
import { canonicalSuspect, parseSuspects } from '../config/suspect.js';

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

/** `--suspect KIND:VALUE[@SINCE..UNTIL]`, repeatable: collected as given, parsed with the config's. */
export const collectSuspect = (value: string, previous: string[] = []): string[] => [...previous, value];

export const SUSPECT_HELP =
  'what you know about the attacker, repeatable: accessor:ACCESSOR, token-stdin, role:MOUNT/ROLE, entity:ID, display-name:NAME, address:IP-or-CIDR, each optionally @SINCE..UNTIL';

export const NOTIFY_HELP =
  'who the notify step tells: affected (a read of their secrets is on record) or at-risk (those and the tenants whose secrets could have been read; each notice says which)';

export const SCOPE_HELP =
  'affected tenants: implicated (read by actors a rule or a suspect implicates), conservative (read by anyone but this token and assess.allow_actors), all (every tenant of the tenancy source)';

/**
 * The config's `suspects:` and the flags' `--suspect`s, parsed once (a bad one is a usage error
 * naming it), with time bounds as ISO times so that they mean the same moment on resume.
 */
export function suspectTexts(fromConfig: readonly string[], fromFlags: readonly string[] = []): string[] {
  return [...new Set(parseSuspects([...fromConfig, ...fromFlags]).map(canonicalSuspect))];
}
