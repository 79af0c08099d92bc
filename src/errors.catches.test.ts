import { readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

/**
 * Keeps errors from being swallowed: a `catch` block or a `.catch(…)` handler that drops the error
 * (empty, or only a `return`/`continue`/`break` that does not use it) must say why in a comment,
 * inside it or on the line above. A handler that throws, or uses the error (records, wraps, logs
 * it), passes. Strings are blanked first so that braces and quotes in them do not mislead.
 */
interface SilentCatch {
  line: number;
  text: string;
}

/** The source with the inside of string and template literals blanked; comments and lines kept. */
function blankStrings(source: string): string {
  let out = '';
  let i = 0;
  while (i < source.length) {
    const c = source[i]!;
    const next = source[i + 1];
    if (c === '/' && next === '/') {
      const end = source.indexOf('\n', i);
      const stop = end === -1 ? source.length : end;
      out += source.slice(i, stop);
      i = stop;
    } else if (c === '/' && next === '*') {
      const end = source.indexOf('*/', i + 2);
      const stop = end === -1 ? source.length : end + 2;
      out += source.slice(i, stop);
      i = stop;
    } else if (c === "'" || c === '"' || c === '`') {
      out += c;
      i++;
      while (i < source.length && source[i] !== c) {
        if (source[i] === '\\') {
          out += '  ';
          i += 2;
          continue;
        }
        out += source[i] === '\n' ? '\n' : ' ';
        i++;
      }
      out += c;
      i++;
    } else {
      out += c;
      i++;
    }
  }
  return out;
}

/** Index just past the bracket that closes the one at `open` (same kind), in blanked source. */
function closing(code: string, open: number): number {
  const pair: Record<string, string> = { '{': '}', '(': ')' };
  const want = pair[code[open]!]!;
  const opener = code[open]!;
  let depth = 0;
  for (let i = open; i < code.length; i++) {
    if (code[i] === opener) depth++;
    else if (code[i] === want && --depth === 0) return i + 1;
  }
  return code.length;
}

const hasComment = (text: string) => /\/\/|\/\*/.test(text);
const lineOf = (code: string, index: number) => code.slice(0, index).split('\n').length;
const lineText = (code: string, line: number) => code.split('\n')[line - 1] ?? '';

const mentions = (text: string, name: string | undefined) =>
  name !== undefined && new RegExp(`\\b${name}\\b`).test(text);

/**
 * Empty, or one `return …`/`continue`/`break` that does not mention `name` (the caught error).
 * `body` has its strings blanked (for the shape); `original` is the same text as written.
 */
function dropsError(body: string, original: string, name: string | undefined): boolean {
  const statement = body.trim().replace(/;$/, '').trim();
  if (statement === '') return true;
  if (/[;\n]/.test(statement)) return false;
  if (!/^(?:return\b|continue$|break$)/.test(statement)) return false;
  return !mentions(original, name);
}

function silentCatches(source: string): SilentCatch[] {
  const code = blankStrings(source);
  const found: SilentCatch[] = [];
  const report = (index: number, near: string) => {
    const line = lineOf(code, index);
    if (hasComment(near) || hasComment(lineText(code, line - 1))) return;
    found.push({ line, text: lineText(source, line).trim() });
  };

  // catch (error) { … } and catch { … }
  for (const m of code.matchAll(/\bcatch\s*(?:\(\s*(\w+)?[^)]*\))?\s*\{/g)) {
    const open = m.index + m[0].length - 1;
    const end = closing(code, open);
    const body = code.slice(open + 1, end - 1);
    const uncommented = body.replace(/\/\/.*|\/\*[\s\S]*?\*\//g, '');
    if (/\bthrow\b/.test(body) || !dropsError(uncommented, source.slice(open + 1, end - 1), m[1])) continue;
    report(m.index, code.slice(m.index, end) + lineText(code, lineOf(code, m.index)));
  }

  // promise.catch(handler)
  for (const m of code.matchAll(/\.catch\s*\(/g)) {
    const open = m.index + m[0].length - 1;
    const end = closing(code, open);
    const handler = code.slice(open + 1, end - 1);
    if (/\bthrow\b/.test(handler)) continue;
    const param = /^\s*(?:async\s*)?(?:\(\s*(\w+)?[^)]*\)|(\w+))\s*=>/.exec(handler);
    const name = param?.[1] ?? param?.[2];
    const rest = source.slice(open + 1 + (param ? param[0].length : 0), end - 1);
    if (mentions(rest, name)) continue;
    if (!param && /^\s*\w+\s*$/.test(handler)) continue; // a named function is passed the error
    report(m.index, code.slice(m.index, end) + lineText(code, lineOf(code, m.index)));
  }
  return found.sort((a, b) => a.line - b.line);
}

function sourceFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) return sourceFiles(path);
    return entry.name.endsWith('.ts') && !entry.name.endsWith('.test.ts') ? [path] : [];
  });
}

describe('silentCatches (the scanner)', () => {
  it('finds catch blocks and .catch handlers that drop the error without a word', () => {
    const planted = [
      'try { a(); } catch {}',
      'try { a(); } catch (error) { return undefined; }',
      'try {',
      '  a();',
      '} catch {',
      '  return [];',
      '}',
      'const x = p.catch(() => undefined);',
      'const y = p.catch(() => ({}) as Record<string, string>);',
      'const z = p.catch((error) => []);',
      'for (const f of fs) { try { a(f); } catch { continue; } }',
      'const w = p.catch(() => {});',
    ].join('\n');
    expect(silentCatches(planted).map((c) => c.line)).toEqual([1, 2, 5, 8, 9, 10, 11, 12]);
  });

  it('passes what rethrows, uses the error, or says why', () => {
    const fine = [
      'try { a(); } catch (error) { if (error instanceof NotFound) return undefined; throw error; }',
      'try { a(); } catch (error) { return { refused: shortError(error) }; }',
      'try { a(); } catch (error) { log.warn({ error }, "x"); return []; }',
      'try { a(); } catch {',
      '  // the file is optional: no file, no overrides',
      '  return {};',
      '}',
      '// A lookup that fails is not cached; its awaiters get the error.',
      'found.catch(() => cache.delete(key));',
      'p.catch((error: unknown) => failures.push(error));',
      'p.catch(reject);',
      "const s = 'catch { }';",
      'p.catch(() => undefined); // the process exits next: nothing to report to',
    ].join('\n');
    expect(silentCatches(fine)).toEqual([]);
  });

  it('is at least as strict as the before-stop hook: every catch it flags, this flags', () => {
    const hook =
      /catch\s*(\(\w*\))?\s*\{\s*(return\s*(\[\]|null|undefined|false|true|\{\}|""|''|0)?\s*;?\s*)?\}/g;
    const samples = [
      'catch {}',
      'catch (e) { return; }',
      'catch () { return null }',
      "catch { return ''; }",
      'catch (err) {\n  return false;\n}',
      'catch { return {}; }',
      'catch { return 0 }',
    ];
    for (const sample of samples) {
      const source = `try { a(); } ${sample}`;
      expect([...source.matchAll(hook)]).toHaveLength(1);
      expect(silentCatches(source), sample).toHaveLength(1);
    }
  });
});

describe('src/ swallows no error silently', () => {
  it('every catch that drops an error says why', () => {
    const root = fileURLToPath(new URL('.', import.meta.url));
    const silent = sourceFiles(root).flatMap((file) =>
      silentCatches(readFileSync(file, 'utf8')).map(
        (c) => `src/${relative(root, file)}:${c.line}: ${c.text}`,
      ),
    );
    expect(silent, `catches that drop the error without a comment saying why:\n${silent.join('\n')}`).toEqual(
      [],
    );
  });
});
