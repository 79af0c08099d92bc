import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateAuditLog } from '../../bench/generate-audit-log.js';
import { listenForAuditEvents } from '../../src/audit/listen.js';
import { mustParsePathTemplate, PathTemplateMatcher } from '../../src/config/path-template.js';
import { LAB_TENANT_TEMPLATES } from '../../src/lab/layout.js';
import { silentLogger } from '../../src/logging/logger.js';
import type { AuditRowValues } from '../../src/store/audit-row.js';
import { Store } from '../../src/store/store.js';

/**
 * The socket path with a SQLite store in a file: lines are parsed and stored by the store worker
 * (src/audit/store-thread.ts) over its own connection. A client that writes far faster than the
 * worker stores is slowed (the socket is not read while the worker is behind), and still every
 * event is stored once, the repeated ones counted as duplicates, and the rows handed to live
 * detection are exactly the new ones, in the order the lines were written.
 */
describe('audit socket through the store worker', () => {
  let dir: string;
  let lines: string[];
  const LINES = 30_000;
  const REPEATED = 2_000;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'sealwatch-store-thread-'));
    const file = join(dir, 'audit.log');
    await generateAuditLog({ file, lines: LINES, tenants: 500 });
    lines = readFileSync(file, 'utf8').split('\n').filter(Boolean);
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('stores every line once under back-pressure and hands the new rows on in order', async () => {
    const storeFile = join(dir, 'sealwatch.db');
    const store = await Store.open(storeFile);
    const handed: AuditRowValues[] = [];
    let storedReports = 0;
    const stop = new AbortController();
    let bound: { host: string; port: number } | undefined;
    try {
      const listening = listenForAuditEvents(
        {
          bind: '127.0.0.1:0',
          signal: stop.signal,
          flushMs: 100,
          onListening: (address) => (bound = address),
          onStored: () => storedReports++,
          onStoredRows: (rows) => handed.push(...rows),
        },
        {
          store,
          matcher: new PathTemplateMatcher(LAB_TENANT_TEMPLATES.map(mustParsePathTemplate)),
          logger: silentLogger(),
        },
      );
      for (let i = 0; i < 100 && !bound; i++) await new Promise((r) => setTimeout(r, 50));
      expect(bound).toBeDefined();

      // All lines, then the first REPEATED again (an audit device re-sending, or a file twin), as
      // fast as the socket takes them; a partial last line ends the stream.
      const socket = connect(bound!.port, bound!.host);
      await new Promise<void>((resolve, reject) => socket.once('connect', resolve).once('error', reject));
      const payload = `${[...lines, ...lines.slice(0, REPEATED)].join('\n')}\n`;
      let waitedForDrain = 0;
      for (let at = 0; at < payload.length; at += 256 * 1024)
        if (!socket.write(payload.slice(at, at + 256 * 1024))) {
          waitedForDrain++;
          await new Promise((r) => socket.once('drain', r));
        }
      await new Promise<void>((resolve) => socket.end(resolve));
      expect(waitedForDrain).toBeGreaterThan(0);

      // Every line stored: wait (bounded) for the counts, then stop and read the result.
      for (let i = 0; i < 600 && handed.length < LINES; i++) await new Promise((r) => setTimeout(r, 100));
      stop.abort();
      const result = await listening;

      expect(result.counts.lines).toBe(LINES + REPEATED);
      expect(result.counts.events).toBe(LINES);
      expect(result.counts.duplicates).toBe(REPEATED);
      expect(result.counts.malformed).toBe(0);
      expect(storedReports).toBeGreaterThan(1);
      expect(await store.auditEvents.count()).toBe(LINES);
      // The rows detection saw: each event once, in the order written.
      expect(handed).toHaveLength(LINES);
      const keys = handed.map((row) => row[0]);
      expect(new Set(keys).size).toBe(LINES);
      const requestIds = lines.map((line) => (JSON.parse(line) as { request: { id: string } }).request.id);
      expect(handed.map((row) => row[3])).toEqual(requestIds);
    } finally {
      stop.abort();
      await store.close();
    }
  }, 180_000);
});
