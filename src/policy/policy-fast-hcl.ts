/**
 * A fast path for the policy texts almost every server holds: only `path "…" { capabilities = […] }`
 * blocks (one `capabilities` or `policy` attribute each, or none), ASCII strings without escapes or
 * interpolation, `#` and `//` comments. It yields exactly what `@cdktf/hcl2json` yields for them (the
 * same object, keys in the same order: tested against it in policy-fast-hcl.test.ts), without
 * starting its WebAssembly (0.1–0.8 s) or calling it (~1.5 ms a policy, on the event loop). Anything
 * else — another attribute, a heredoc, an escape, a block split in a way HCL rejects — answers
 * undefined and the caller parses with hcl2json, which also gives the error and its position.
 */

type Token =
  | { kind: 'ident'; value: string }
  | { kind: 'string'; value: string }
  | { kind: 'punct'; value: '{' | '}' | '[' | ']' | '=' | ',' }
  | { kind: 'newline' };

const IDENT = /[A-Za-z_][A-Za-z0-9_-]*/y;
const STRING_BODY = /[\x20-\x21\x23-\x5b\x5d-\x7e]*/y;

function tokenize(text: string): Token[] | undefined {
  const tokens: Token[] = [];
  let i = 0;
  while (i < text.length) {
    const c = text[i]!;
    if (c === ' ' || c === '\t' || c === '\r') {
      i++;
    } else if (c === '\n') {
      tokens.push({ kind: 'newline' });
      i++;
    } else if (c === '#' || (c === '/' && text[i + 1] === '/')) {
      const end = text.indexOf('\n', i);
      i = end === -1 ? text.length : end;
    } else if (c === '"') {
      STRING_BODY.lastIndex = i + 1;
      const body = STRING_BODY.exec(text)![0];
      const end = i + 1 + body.length;
      // An escape, a control or non-ASCII character, or an unterminated string: not ours.
      if (text[end] !== '"') return undefined;
      // `${…}` and `%{…}` are interpolation and directives in HCL strings.
      if (body.includes('${') || body.includes('%{')) return undefined;
      tokens.push({ kind: 'string', value: body });
      i = end + 1;
    } else if (c === '{' || c === '}' || c === '[' || c === ']' || c === '=' || c === ',') {
      tokens.push({ kind: 'punct', value: c });
      i++;
    } else {
      IDENT.lastIndex = i;
      const ident = IDENT.exec(text);
      if (!ident) return undefined;
      tokens.push({ kind: 'ident', value: ident[0] });
      i += ident[0].length;
    }
  }
  return tokens;
}

type Body = Record<string, string | string[]>;

/** The decoded document (`{ path: { "<path>": [body, …] } }`), or undefined when the text is not in the subset. */
export function fastDecodePolicy(text: string): Record<string, unknown> | undefined {
  const tokens = tokenize(text);
  if (!tokens) return undefined;
  const blocks = new Map<string, Body[]>();
  let at = 0;
  const peek = () => tokens[at];
  const isPunct = (t: Token | undefined, value: string) => t?.kind === 'punct' && t.value === value;
  const skipNewlines = () => {
    while (peek()?.kind === 'newline') at++;
  };
  /** `capabilities = ["a", "b"]` (the list may span lines) or `policy = "read"`. */
  const attribute = (): [string, string | string[]] | undefined => {
    const name = tokens[at];
    if (name?.kind !== 'ident' || !isPunct(tokens[at + 1], '=')) return undefined;
    at += 2;
    if (name.value === 'policy') {
      const value = tokens[at];
      if (value?.kind !== 'string') return undefined;
      at++;
      return ['policy', value.value];
    }
    if (name.value !== 'capabilities' || !isPunct(tokens[at], '[')) return undefined;
    at++;
    const items: string[] = [];
    for (;;) {
      skipNewlines();
      if (isPunct(peek(), ']')) break;
      const item = tokens[at];
      if (item?.kind !== 'string') return undefined;
      items.push(item.value);
      at++;
      skipNewlines();
      if (isPunct(peek(), ',')) at++;
      else if (!isPunct(peek(), ']')) return undefined;
    }
    at++;
    return ['capabilities', items];
  };
  for (;;) {
    skipNewlines();
    if (at >= tokens.length) break;
    const keyword = tokens[at];
    const label = tokens[at + 1];
    if (keyword?.kind !== 'ident' || keyword.value !== 'path' || label?.kind !== 'string') return undefined;
    if (!isPunct(tokens[at + 2], '{')) return undefined;
    at += 3;
    const body: Body = {};
    if (isPunct(peek(), '}')) {
      // `{}` on one line.
      at++;
    } else if (peek()?.kind === 'newline') {
      // A multi-line block: at most one attribute, each on its own line, `}` on its own line.
      skipNewlines();
      if (!isPunct(peek(), '}')) {
        const attr = attribute();
        if (!attr) return undefined;
        body[attr[0]] = attr[1];
        if (peek()?.kind !== 'newline') return undefined;
        skipNewlines();
        if (!isPunct(peek(), '}')) return undefined;
      }
      at++;
    } else {
      // A single-line block: one attribute, closed on the same line.
      const attr = attribute();
      if (!attr || !isPunct(peek(), '}')) return undefined;
      body[attr[0]] = attr[1];
      at++;
    }
    // HCL wants a newline (or the end) after a block.
    if (at < tokens.length && peek()?.kind !== 'newline') return undefined;
    const list = blocks.get(label.value);
    if (list) list.push(body);
    else blocks.set(label.value, [body]);
  }
  if (blocks.size === 0) return {};
  // hcl2json is Go: it writes an object's keys sorted by byte (these strings are ASCII).
  const path: Record<string, Body[]> = {};
  for (const key of [...blocks.keys()].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0)))
    path[key] = blocks.get(key)!;
  return { path };
}
