import { BlockList, isIP } from 'node:net';
import { UsageError } from '../errors.js';
import { parseDuration } from '../util/duration.js';

export const SUSPECT_KINDS = [
  'accessor',
  'token-stdin',
  'role',
  'entity',
  'display-name',
  'address',
] as const;
export type SuspectKind = (typeof SUSPECT_KINDS)[number];

/** What the responder knows about the attacker, as written on the command line or in the config. */
export interface Suspect {
  /** As given (`role:approle/mailer@24h..`): how the assessment names it. */
  text: string;
  kind: SuspectKind;
  /** The accessor, entity id, display name, `MOUNT/ROLE`, or IP/CIDR; empty for token-stdin. */
  value: string;
  /** Only events at or after this time match (ISO). */
  since?: string;
  /** Only events at or before this time match (ISO). */
  until?: string;
}

const isKind = (kind: string): kind is SuspectKind => (SUSPECT_KINDS as readonly string[]).includes(kind);

/**
 * Parses `KIND:VALUE[@SINCE..UNTIL]` (or `token-stdin[@…]`), the one syntax of `--suspect` and the
 * config's `suspects:` and `assess.allow_actors`. Either bound may be left out; each is a duration
 * back from `now` (24h) or an ISO time. Throws a usage error naming the suspect.
 */
export function parseSuspect(text: string, now = Date.now()): Suspect {
  const fail = (why: string) => new UsageError(`--suspect ${text}: ${why}`);
  const bounded = /^(.*)@([^@]*)\.\.([^@]*)$/.exec(text);
  const body = bounded ? bounded[1]! : text;
  const colon = body.indexOf(':');
  const kind = colon < 0 ? body : body.slice(0, colon);
  const value = colon < 0 ? '' : body.slice(colon + 1).trim();
  if (!isKind(kind))
    throw fail(`unknown kind "${kind}": use one of ${SUSPECT_KINDS.map((k) => `${k}:`).join(', ')}`);
  if (kind === 'token-stdin') {
    if (value !== '') throw fail('token-stdin takes no value: the token is read from standard input');
  } else if (value === '') throw fail(`${kind}: needs a value (${kind}:VALUE)`);
  if (kind === 'role' && !/^[^/]+(\/[^/]+)*\/[^/]+$/.test(value))
    throw fail('role: give MOUNT/ROLE, e.g. role:approle/mailer');
  if (kind === 'address') parseAddress(value, fail);
  const suspect: Suspect = { text, kind, value };
  if (bounded) {
    const moment = (edge: string, name: string) => {
      if (edge === '') return undefined;
      const ago = parseDuration(edge);
      if (ago !== undefined) return new Date(now - ago).toISOString();
      const at = Date.parse(edge);
      if (Number.isNaN(at) || !/^\d{4}-\d{2}-\d{2}/.test(edge))
        throw fail(`${name} "${edge}" is neither a duration (24h) nor an ISO time`);
      return new Date(at).toISOString();
    };
    const since = moment(bounded[2]!, 'since');
    const until = moment(bounded[3]!, 'until');
    if (since && until && since > until) throw fail(`since ${since} is after until ${until}`);
    if (since) suspect.since = since;
    if (until) suspect.until = until;
  }
  return suspect;
}

/** An IP or CIDR as a BlockList; throws through `fail` when malformed. */
export function parseAddress(value: string, fail: (why: string) => Error): BlockList {
  const [ip, bits, extra] = value.split('/');
  const family = isIP(ip ?? '');
  const max = family === 6 ? 128 : 32;
  const prefix = bits === undefined ? max : Number(bits);
  if (family === 0 || extra !== undefined || !Number.isInteger(prefix) || prefix < 0 || prefix > max)
    throw fail(`address: "${value}" is not an IP address or CIDR (10.0.0.0/8, 2001:db8::/32)`);
  const list = new BlockList();
  list.addSubnet(ip!, prefix, family === 6 ? 'ipv6' : 'ipv4');
  return list;
}

/** Parses every suspect, or throws on the first bad one; duplicates are given once. */
export function parseSuspects(texts: readonly string[], now = Date.now()): Suspect[] {
  const seen = new Set<string>();
  return texts.map((t) => parseSuspect(t, now)).filter((s) => !seen.has(s.text) && seen.add(s.text));
}

/**
 * The suspect with its time bounds as ISO times: what an incident journals, so that a resume next
 * day reads `@24h..` as the same moment and not a day later.
 */
export function canonicalSuspect(suspect: Suspect): string {
  const body = suspect.kind === 'token-stdin' ? suspect.kind : `${suspect.kind}:${suspect.value}`;
  return suspect.since || suspect.until ? `${body}@${suspect.since ?? ''}..${suspect.until ?? ''}` : body;
}

/**
 * `implicated`: tenants read by actors that a rule or a suspect implicates; `conservative`: tenants
 * read by any actor but the responder's token and `assess.allow_actors`; `all`: every tenant of the
 * tenancy source.
 */
export const ASSESS_SCOPES = ['implicated', 'conservative', 'all'] as const;
export type AssessScope = (typeof ASSESS_SCOPES)[number];
