import pLimit from 'p-limit';
import { z } from 'zod';
import { BadRequestError, VaultError } from '../vault/errors.js';
import type { PostureCheck, PostureContext, PostureFinding } from './check.js';
import { refusal } from './refusal.js';

export const ACCESSORS_PATH = 'auth/token/accessors';
export const LOOKUP_ACCESSOR_PATH = 'auth/token/lookup-accessor';

/** What posture reads of one live token (lookup by accessor; never the token itself). */
const liveTokenSchema = z.looseObject({
  accessor: z.string(),
  display_name: z.string().default(''),
  policies: z.array(z.string()).nullable().default([]),
  /** Seconds the token was created to live; 0 = no expiry. */
  creation_ttl: z.number().default(0),
  ttl: z.number().default(0),
  expire_time: z.string().nullable().default(null),
  explicit_max_ttl: z.number().default(0),
  period: z.number().nullable().default(0),
  orphan: z.boolean().default(false),
  path: z.string().default(''),
  type: z.string().default('service'),
  issue_time: z.string().optional(),
});
export type LiveToken = z.infer<typeof liveTokenSchema>;

export interface TokenInventory {
  tokens: LiveToken[];
  /** Accessors listed but gone before their lookup (expired or revoked meanwhile). */
  vanished: number;
}

/** Lookups in flight: enough to read 10,000 tokens in seconds without crowding a small server. */
const LOOKUPS_IN_FLIGHT = 32;

const cache = new WeakMap<PostureContext, Promise<TokenInventory>>();

/**
 * Every live token, looked up by accessor once per posture run and shared by the token checks.
 * Listing needs `list` and `sudo` on auth/token/accessors, the lookups `update` on
 * auth/token/lookup-accessor; a refusal of either rejects, and each check reports it.
 */
export function tokenInventory(ctx: PostureContext): Promise<TokenInventory> {
  let pending = cache.get(ctx);
  if (!pending) {
    pending = readInventory(ctx);
    cache.set(ctx, pending);
  }
  return pending;
}

async function readInventory(ctx: PostureContext): Promise<TokenInventory> {
  const accessors = await ctx.vault.tokenListAccessors();
  const limit = pLimit(LOOKUPS_IN_FLIGHT);
  let vanished = 0;
  const looked = await Promise.all(
    accessors.map((accessor) =>
      limit(async () => {
        try {
          return liveTokenSchema.parse(await ctx.vault.tokenLookupAccessor(accessor));
        } catch (error) {
          // Listed, then expired or revoked before its lookup: the server answers 400 "invalid
          // accessor". It is no longer live, so it has no posture; it is counted, not hidden.
          if (error instanceof BadRequestError) {
            vanished++;
            return undefined;
          }
          throw error;
        }
      }),
    ),
  );
  return { tokens: looked.filter((t) => t !== undefined), vanished };
}

export const isRootToken = (token: LiveToken) => (token.policies ?? []).includes('root');

/** The could-not-read finding of a failed inventory: the listing (sudo) or the lookups (update). */
export function inventoryRefusal(check: Pick<PostureCheck, 'id' | 'area'>, error: unknown): PostureFinding {
  return error instanceof VaultError && error.path.includes(LOOKUP_ACCESSOR_PATH)
    ? refusal(check, 'live tokens by accessor', { capability: 'update', path: LOOKUP_ACCESSOR_PATH }, error)
    : refusal(check, 'the live token accessors', { capability: 'list, sudo', path: ACCESSORS_PATH }, error);
}
