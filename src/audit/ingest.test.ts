import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LAB_TENANT_TEMPLATES } from '../lab/layout.js';
import { silentLogger } from '../logging/logger.js';
import { Store } from '../store/store.js';
import { mustParsePathTemplate, PathTemplateMatcher } from '../config/path-template.js';
import { ingestAuditFiles, type IngestResult } from './ingest.js';

/**
 * File ingestion parsed in a worker thread and in the calling thread: the same counts, the same
 * errors with the same line numbers, the same stored events, and nothing stored twice.
 */
const FIXTURE = new URL('../../test/fixtures/audit/openbao-2.7.2.jsonl', import.meta.url);

describe('audit ingest, parsed in a worker thread or in the calling one', () => {
  let dir: string;
  let files: string[];
  const matcher = new PathTemplateMatcher(LAB_TENANT_TEMPLATES.map(mustParsePathTemplate));

  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'sealwatch-ingest-'));
    const good = readFileSync(FIXTURE, 'utf8').trimEnd().split('\n');
    const mixed = [
      ...good.slice(0, 5),
      '',
      'not json at all',
      '{"time":"2026-03-01T00:00:00Z","type":"request","request":{"id":"x"',
      ...good.slice(5),
      '\u0000\u0001binary',
    ].join('\n');
    files = [join(dir, 'audit.log'), join(dir, 'missing.log'), join(dir, 'again.log.gz')];
    writeFileSync(files[0]!, `${mixed}\n`);
    // The same calls again, compressed: every one a duplicate.
    writeFileSync(files[2]!, gzipSync(`${good.join('\n')}\n`));
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  async function ingestInto(name: string, parseThread: boolean) {
    const store = await Store.open(join(dir, `${name}.db`));
    try {
      const deps = { store, matcher, logger: silentLogger() };
      const first = await ingestAuditFiles(files, deps, { parseThread });
      const second = await ingestAuditFiles(files, deps, { parseThread });
      const events = (await store.auditEvents.query({ limit: 10_000 })).map(({ id: _, ...e }) => e);
      return { first, second, events };
    } finally {
      await store.close();
    }
  }

  const summary = (r: IngestResult) => ({
    counts: r.counts,
    failures: r.failures.map((f) => [f.file, f.error.code, f.error.message]),
  });

  it('counts, reports and stores alike, and stores nothing twice', async () => {
    const threaded = await ingestInto('threaded', true);
    const inline = await ingestInto('inline', false);
    expect(summary(threaded.first)).toEqual(summary(inline.first));
    expect(summary(threaded.second)).toEqual(summary(inline.second));
    expect(threaded.events).toEqual(inline.events);

    const good = readFileSync(FIXTURE, 'utf8').trimEnd().split('\n').length;
    expect(threaded.first.counts).toMatchObject({
      lines: 2 * good + 4,
      events: good,
      duplicates: good,
      malformed: 3,
    });
    expect(threaded.first.counts.errors).toEqual([
      { file: files[0], line: 7, reason: 'not JSON' },
      { file: files[0], line: 8, reason: 'truncated JSON audit entry' },
      { file: files[0], line: good + 4, reason: 'binary data, not a JSON audit entry' },
    ]);
    expect(threaded.first.failures.map((f) => f.file)).toEqual([files[1]]);
    expect(threaded.first.failures[0]!.error.message).toMatch(/ENOENT/);
    expect(threaded.second.counts).toMatchObject({ events: 0, duplicates: 2 * good, malformed: 3 });
    expect(threaded.events).toHaveLength(good);
    // The first copy of each event is the one kept (the .gz repeats them all).
    expect(new Set(threaded.events.map((e) => e.source))).toEqual(new Set([files[0]]));
  });

  it('keeps at most maxErrors descriptions, counting every malformed line', async () => {
    const store = await Store.open(join(dir, 'errors.db'));
    try {
      const finishing: number[] = [];
      const result = await ingestAuditFiles(
        [files[0]!],
        { store, matcher, logger: silentLogger() },
        { parseThread: true, maxErrors: 2, onFinishing: (c) => finishing.push(c.lines) },
      );
      // Said once, when every line is in.
      expect(finishing).toEqual([result.counts.lines]);
      expect(result.counts.malformed).toBe(3);
      expect(result.counts.errors.map((e) => e.line)).toEqual([7, 8]);
    } finally {
      await store.close();
    }
  });
});
