import { SECRET_KEYS } from '../logging/logger.js';

/**
 * Keeps secret values out of what the playbook engine writes: the journal, the timeline, reports
 * and progress. Two nets: values a step declared (`ctx.sensitive(value)`) are cut out of every
 * string wherever they appear, and string values under secret-looking keys are replaced whatever
 * they are. Token-shaped strings are cut out too, declared or not.
 */
const SECRET_KEY_SET = new Set(SECRET_KEYS);

/** Vault/OpenBao service, batch and recovery tokens, current (`hvs.`) and legacy (`s.`) forms. */
const TOKEN_SHAPE = /\b(?:hv[sbr]|s|b|r)\.[A-Za-z0-9_-]{20,}/g;
export const REDACTED = '[redacted]';
/** Shorter values would cut ordinary words out of messages; no secret sealwatch handles is that short. */
const MIN_SECRET_LENGTH = 6;
const MAX_ERROR_LENGTH = 400;

export class SecretScrubber {
  private readonly secrets = new Set<string>();

  add(value: string): void {
    if (value.length >= MIN_SECRET_LENGTH) this.secrets.add(value);
  }

  text(text: string): string {
    let out = text.replace(TOKEN_SHAPE, REDACTED);
    // Longest first, so a secret containing another is removed whole.
    for (const secret of [...this.secrets].sort((a, b) => b.length - a.length))
      out = out.split(secret).join(REDACTED);
    return out;
  }

  /** A deep copy with secrets removed; JSON-shaped values only (what the journal stores). */
  value<T>(value: T): T {
    return this.walk(value, false) as T;
  }

  record(value: Record<string, unknown>): Record<string, unknown> {
    return this.value(value);
  }

  /** One line, bounded, scrubbed: what the journal and the report say about a failure. */
  errorLine(error: unknown): string {
    const message = error instanceof Error ? error.message : String(error);
    const line = this.text(message).replace(/\s+/g, ' ').trim();
    return line.length > MAX_ERROR_LENGTH ? `${line.slice(0, MAX_ERROR_LENGTH)}…` : line;
  }

  private walk(value: unknown, underSecretKey: boolean): unknown {
    if (typeof value === 'string') return underSecretKey ? REDACTED : this.text(value);
    if (Array.isArray(value)) return value.map((v) => this.walk(v, underSecretKey));
    if (value !== null && typeof value === 'object') {
      if (value instanceof Date) return value.toISOString();
      return Object.fromEntries(
        Object.entries(value).map(([k, v]) => [
          this.text(k),
          this.walk(v, underSecretKey || SECRET_KEY_SET.has(k.toLowerCase())),
        ]),
      );
    }
    if (typeof value === 'bigint') return Number(value);
    if (typeof value === 'function' || typeof value === 'symbol') return undefined;
    return value;
  }
}
