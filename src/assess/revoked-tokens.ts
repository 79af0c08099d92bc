import type { RevokedAccessor } from '../store/repositories/revoked-accessors.repository.js';
import type { LiveEvent, RevokedTokenLookup } from './rule.js';

/**
 * The tripwire's index: revoked accessors, and the client-token HMAC keys their calls carried.
 * OpenBao 2.7.2 writes a call made with a revoked token with no accessor at all (neither
 * auth.accessor nor request.client_token_accessor), only request.client_token's HMAC, so such a
 * call is recognised by the token HMAC its earlier, accessor-bearing calls carried.
 */
export class RevokedTokenIndex implements RevokedTokenLookup {
  private byAccessor = new Map<string, RevokedAccessor>();
  private byToken = new Map<string, RevokedAccessor>();

  constructor(revoked: readonly RevokedAccessor[] = [], tokens: ReadonlyMap<string, string> = new Map()) {
    this.replace(revoked, tokens);
  }

  /** `tokens`: client-token HMAC key → accessor. */
  replace(revoked: readonly RevokedAccessor[], tokens: ReadonlyMap<string, string>): void {
    this.byAccessor = new Map(revoked.map((r) => [r.accessor, r]));
    this.byToken = new Map();
    for (const [token, accessor] of tokens) {
      const record = this.byAccessor.get(accessor);
      if (record) this.byToken.set(token, record);
    }
  }

  get size(): number {
    return this.byAccessor.size;
  }

  /** Learns a token HMAC from a call that names a revoked accessor (its calls before the revocation). */
  learn(event: Pick<LiveEvent, 'accessor' | 'client_token'>): void {
    if (event.accessor === null || event.client_token === null) return;
    const record = this.byAccessor.get(event.accessor);
    if (record) this.byToken.set(event.client_token, record);
  }

  revokedCaller(event: Pick<LiveEvent, 'accessor' | 'client_token'>): RevokedAccessor | undefined {
    if (event.accessor !== null) return this.byAccessor.get(event.accessor);
    return event.client_token === null ? undefined : this.byToken.get(event.client_token);
  }
}
