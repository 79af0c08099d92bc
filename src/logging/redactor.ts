/**
 * The one redactor: everything sealwatch writes where a person or a database keeps it (log lines,
 * the incident journal, store rows of errors and evidence, reports, notices) passes through it.
 *
 * Three nets, applied together:
 * - values the process knows are secret, registered where they are created or read (generated
 *   passwords and keys, Vault tokens, unseal and rekey shares, credentials from files and the
 *   environment, values Vault returns under secret field names), cut out of every string;
 * - shapes that are secret whoever made them: Vault/OpenBao tokens, PEM private key blocks, hex
 *   unseal shares, the password of a URL;
 * - string values under secret-named keys (`password`, `private_key`, `token`, …) at any depth.
 *
 * It lives in `logging/`, the lowest layer, so every layer can register and redact. The registry is
 * the process's: a CLI run learns its secrets as it goes and forgets them when it exits.
 */

export const REDACTED = '[redacted]';

/** Keys whose string values are secrets wherever they appear in an object. */
export const SECRET_KEYS: readonly string[] = [
  'token',
  'client_token',
  'root_token',
  'password',
  'secret',
  'secret_id',
  'private_key',
  'unseal_keys',
  'unseal_key',
  'unseal_keys_b64',
  'keys',
  'keys_base64',
  'key',
  'otp',
  'value',
  'api_key',
  'authorization',
  'x-vault-token',
  'passphrase',
  'credentials',
];
const SECRET_KEY_SET = new Set(SECRET_KEYS);
/** `smtp_password`, `db-passphrase`, `tsig_signing_key`: a known secret name at the end of a longer key. */
const SECRET_KEY_SUFFIX =
  /(?:^|[_-])(?:password|passphrase|private_key|secret_id|api_key|client_token|root_token|signing_key|encoded_token|encoded_root_token)$/;

export function isSecretKey(key: string): boolean {
  const lower = key.toLowerCase();
  return SECRET_KEY_SET.has(lower) || SECRET_KEY_SUFFIX.test(lower);
}

/**
 * Field names whose values a Vault request or response carries as secrets; `learn` registers them.
 * Narrower than SECRET_KEYS on purpose: `keys` of a LIST answer and `value` of a KV field are paths
 * and data, and registering them would cut tenant names out of every message.
 */
const LEARNED_KEYS = new Set([
  'token',
  'client_token',
  'root_token',
  'encoded_token',
  'encoded_root_token',
  'password',
  'secret',
  'secret_id',
  'private_key',
  'key',
  'api_key',
  'otp',
  'passphrase',
  'unseal_keys',
  'unseal_keys_b64',
  'unseal_keys_hex',
  'keys_base64',
  'recovery_keys',
  'recovery_keys_b64',
  'signing_key',
]);

/** Vault/OpenBao service, batch and recovery tokens, current (`hvs.`) and legacy (`s.`) forms. */
const TOKEN_SHAPE = /\b(?:hv[sbr]|s|b|r)\.[A-Za-z0-9_-]{20,}/g;
/** A PEM private key, whole or cut off (a bounded error line may end inside it). */
const PEM_PRIVATE_KEY =
  /-----BEGIN [A-Z0-9 ]*PRIVATE KEY-----[\s\S]*?(?:-----END [A-Z0-9 ]*PRIVATE KEY-----|$)/g;
/** Shamir shares of a 32-byte key are 33 bytes: 66 hex digits (SHA-256 digests and HMACs are 64). */
const HEX_SHARE = /\b[0-9a-f]{66}\b/gi;
const HEX_SHARE_VALUE = /^[0-9a-f]{66}$/i;
/** `scheme://user:password@host`: the password goes, the rest says where. */
const URL_PASSWORD = /\b([a-z][a-z0-9+.-]*:\/\/[^\s:/@"'<>]+:)[^\s@/"'<>]+@/gi;

/** Shorter values would cut ordinary words out of messages; no secret sealwatch handles is that short. */
const MIN_SECRET_LENGTH = 6;
/** Lines of a multi-line secret (a PEM body) long enough to be recognised on their own. */
const MIN_LINE_LENGTH = 20;
const MAX_ERROR_LENGTH = 400;
const MAX_DEPTH = 32;

export class Redactor {
  private readonly secrets = new Set<string>();
  /** Secrets by their first MIN_SECRET_LENGTH characters, longest first: one map lookup per position. */
  private index: Map<string, string[]> | undefined;

  /** Registers secret values (undefined and too-short values are ignored). */
  register(...values: ReadonlyArray<string | null | undefined>): void {
    for (const value of values) {
      if (typeof value !== 'string' || value.length < MIN_SECRET_LENGTH) continue;
      for (const form of formsOf(value))
        if (form.length >= MIN_SECRET_LENGTH && !this.secrets.has(form)) {
          this.secrets.add(form);
          this.index = undefined;
        }
    }
  }

  /** Registers the string values under secret field names of a request or response body, at any depth. */
  learn(body: unknown, depth = 0): void {
    if (depth > MAX_DEPTH || body === null || typeof body !== 'object') return;
    if (Array.isArray(body)) {
      for (const item of body) this.learn(item, depth + 1);
      return;
    }
    for (const [key, value] of Object.entries(body)) {
      const lower = key.toLowerCase();
      if (LEARNED_KEYS.has(lower) || SECRET_KEY_SUFFIX.test(lower)) {
        this.registerAll(value);
      } else if (lower === 'keys' && Array.isArray(value)) {
        // Rekey and init answer `keys` with the new shares; a LIST answers `keys` with names.
        for (const item of value)
          if (typeof item === 'string' && HEX_SHARE_VALUE.test(item)) this.register(item);
      } else {
        this.learn(value, depth + 1);
      }
    }
  }

  /** Every string under a value (a secret field may hold a list of shares). */
  private registerAll(value: unknown): void {
    if (typeof value === 'string') this.register(value);
    else if (Array.isArray(value)) for (const item of value) this.registerAll(item);
  }

  /** The text with every known secret and every secret shape replaced by `[redacted]`. */
  text(text: string): string {
    const out = text
      .replace(PEM_PRIVATE_KEY, REDACTED)
      .replace(TOKEN_SHAPE, REDACTED)
      .replace(HEX_SHARE, REDACTED)
      .replace(URL_PASSWORD, `$1${REDACTED}@`);
    return this.secrets.size === 0 ? out : this.cutKnown(out);
  }

  /**
   * A deep copy with secrets removed: strings are redacted, strings under secret-named keys replaced
   * whole, errors become `{ type, message, code?, stack?, cause? }`, dates ISO strings. JSON-shaped
   * output (what the journal and the store keep).
   */
  value<T>(value: T): T {
    // The walk keeps the shape of JSON values; only errors, dates, bigints and buffers change form.
    return this.walk(value, false, new WeakSet(), 0) as T;
  }

  /** One line, bounded, redacted: what the journal, the store and the report say about a failure. */
  errorLine(error: unknown, max = MAX_ERROR_LENGTH): string {
    const message = error instanceof Error ? error.message : String(error);
    const line = this.text(message).replace(/\s+/g, ' ').trim();
    return line.length > max ? `${line.slice(0, max)}…` : line;
  }

  private cutKnown(text: string): string {
    const index = this.indexed();
    let out = '';
    let from = 0;
    let i = 0;
    while (i <= text.length - MIN_SECRET_LENGTH) {
      const candidates = index.get(text.slice(i, i + MIN_SECRET_LENGTH));
      const hit = candidates?.find((secret) => text.startsWith(secret, i));
      if (hit === undefined) {
        i++;
        continue;
      }
      out += text.slice(from, i) + REDACTED;
      i += hit.length;
      from = i;
    }
    return from === 0 ? text : out + text.slice(from);
  }

  private indexed(): Map<string, string[]> {
    if (this.index) return this.index;
    const index = new Map<string, string[]>();
    for (const secret of this.secrets) {
      const prefix = secret.slice(0, MIN_SECRET_LENGTH);
      const list = index.get(prefix);
      if (list) list.push(secret);
      else index.set(prefix, [secret]);
    }
    // Longest first, so a secret containing another is removed whole.
    for (const list of index.values()) list.sort((a, b) => b.length - a.length);
    this.index = index;
    return index;
  }

  private walk(value: unknown, underSecretKey: boolean, seen: WeakSet<object>, depth: number): unknown {
    if (typeof value === 'string') return underSecretKey ? REDACTED : this.text(value);
    if (typeof value === 'bigint') return Number(value);
    if (typeof value === 'function' || typeof value === 'symbol') return undefined;
    if (value === null || typeof value !== 'object') return value;
    if (value instanceof Date) return value.toISOString();
    if (value instanceof Uint8Array) return `[${value.byteLength} bytes]`;
    if (value instanceof URL) return this.text(value.toString());
    if (seen.has(value)) return '[circular]';
    if (depth >= MAX_DEPTH) return '[too deep]';
    seen.add(value);
    try {
      if (Array.isArray(value)) return value.map((v) => this.walk(v, underSecretKey, seen, depth + 1));
      const entries: [string, unknown][] =
        value instanceof Error ? errorEntries(value) : Object.entries(value);
      return Object.fromEntries(
        entries.map(([k, v]) => [
          this.text(k),
          this.walk(v, underSecretKey || isSecretKey(k), seen, depth + 1),
        ]),
      );
    } finally {
      seen.delete(value);
    }
  }
}

/** An error's own fields plus what JSON would drop (type, message, stack, cause). */
function errorEntries(error: Error): [string, unknown][] {
  return [
    ['type', error.name],
    ['message', error.message],
    ...Object.entries(error).filter(([k]) => k !== 'message' && k !== 'stack'),
    ...(error.stack !== undefined ? [['stack', error.stack] as [string, unknown]] : []),
    ...(error.cause !== undefined ? [['cause', error.cause] as [string, unknown]] : []),
  ];
}

/**
 * The forms a secret takes in text: itself, JSON-escaped (a PEM in a quoted body), URL-encoded (a
 * password in a connection string) and, for multi-line values, each long line on its own (a PEM
 * body line quoted in an error).
 */
function formsOf(value: string): string[] {
  const forms = new Set([value, JSON.stringify(value).slice(1, -1), encodeURIComponent(value)]);
  const trimmed = value.trim();
  if (trimmed !== value) forms.add(trimmed);
  if (value.includes('\n'))
    for (const line of value.split(/\r?\n/)) {
      const t = line.trim();
      if (t.length >= MIN_LINE_LENGTH && !/^-----(BEGIN|END) /.test(t)) forms.add(t);
    }
  return [...forms];
}

/** The process's redactor: every boundary uses this one, every secret is registered with it. */
export const redactor = new Redactor();

/** Registers values the process now knows to be secret (generated, read, received). */
export function registerSecret(...values: ReadonlyArray<string | null | undefined>): void {
  redactor.register(...values);
}

export function redactText(text: string): string {
  return redactor.text(text);
}

export function redactValue<T>(value: T): T {
  return redactor.value(value);
}

export function redactedErrorLine(error: unknown, max?: number): string {
  return redactor.errorLine(error, max);
}
