import { Writable } from 'node:stream';
import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import type { AnalysisEvent } from '../store/repositories/audit-analysis.repository.js';
import { LeakTraceError, traceLeak } from './leak-trace.js';

const SECRET = 'correct-horse-battery-staple';

function event(overrides: Partial<AnalysisEvent>): AnalysisEvent {
  return {
    id: 1,
    time: '2026-01-01T12:00:00.000000000Z',
    type: 'response',
    request_id: 'r1',
    operation: 'read',
    path: 'secret/data/tenants/t1/smtp',
    mount_point: 'secret/',
    mount_type: 'kv',
    accessor: 'acc',
    display_name: 'approle',
    remote_address: '10.0.0.1',
    error: null,
    policies: [],
    issued_token_ttl: null,
    ...overrides,
  };
}

function capturingLogger() {
  let text = '';
  const sink = new Writable({ write: (chunk, _enc, done) => ((text += String(chunk)), done()) });
  return { logger: pino({ level: 'trace' }, sink), logged: () => text };
}

describe('traceLeak', () => {
  it('hashes with every device, searches their hashes, and lists one event per call', async () => {
    const asked: string[] = [];
    const { logger, logged } = capturingLogger();
    const trace = await traceLeak(SECRET, {
      vault: {
        listAuditDevices: async () => [
          { path: 'file/', type: 'file', description: '', options: {}, local: false },
          { path: 'socket/', type: 'socket', description: '', options: {}, local: false },
        ],
        auditHash: async (device) => `hmac-sha256:${device === 'file/' ? 'aa' : 'bb'}`,
      },
      analysis: {
        // No suspect is named here: never asked.
        actorsMatching: async () => [],
        eventsCarryingHashes: async (hashes) => {
          asked.push(...hashes);
          return [
            // A write: request and response both carry the value; the request stands for the call.
            event({ id: 1, request_id: 'w', type: 'request', operation: 'update' }),
            event({ id: 2, request_id: 'w', type: 'response', operation: 'update' }),
            // A read: only the response carries it.
            event({ id: 3, request_id: 'r', type: 'response' }),
          ];
        },
      },
      logger,
    });
    expect(asked).toEqual(['hmac-sha256:aa', 'hmac-sha256:bb']);
    expect(trace.hash_lookups).toBe(2);
    expect(trace.events.map((e) => [e.type, e.operation])).toEqual([
      ['request', 'update'],
      ['response', 'read'],
    ]);
    expect(logged()).not.toContain(SECRET);
  });

  it('fails with a message that names the device but never the value', async () => {
    const error = await traceLeak(SECRET, {
      vault: {
        listAuditDevices: async () => [
          { path: 'file/', type: 'file', description: '', options: {}, local: false },
        ],
        auditHash: async () => {
          throw new Error(`echo of ${SECRET}`);
        },
      },
      analysis: { eventsCarryingHashes: async () => [], actorsMatching: async () => [] },
      logger: pino({ level: 'silent' }),
    }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(LeakTraceError);
    expect((error as Error).message).toMatch(/sys\/audit-hash\/file/);
    expect((error as Error).message).not.toContain(SECRET);
    expect(String((error as Error).cause)).not.toContain(SECRET);
  });
});
