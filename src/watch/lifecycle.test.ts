import { describe, expect, it } from 'vitest';
import type { AlertRecord, Silence } from '../store/repositories/alerts.repository.js';
import type { AlertCondition, AlertRule } from './alert-rule.js';
import { advanceAlerts, fingerprint, type LifecycleInput } from './lifecycle.js';

const rule: AlertRule = {
  id: 'node-sealed',
  severity: 'critical',
  forMs: 10_000,
  runbook: 'sealed',
  description: 'test',
  evaluate: () => [],
};
const sealed: AlertCondition = { labels: { node: 'n1' }, summary: 'n1 is sealed' };
const at = (s: number) => new Date(Date.UTC(2026, 11, 6, 3, 0, s));

/** Runs cycles at the given seconds with the given conditions, feeding each cycle's state to the next. */
function cycles(
  steps: { at: number; conditions: AlertCondition[] | undefined }[],
  over: Partial<LifecycleInput> = {},
) {
  let active: AlertRecord[] = [];
  const out = [];
  for (const step of steps) {
    const result = advanceAlerts({
      rules: [rule],
      results: new Map([[rule.id, step.conditions]]),
      active,
      silences: [],
      now: at(step.at),
      repeatMs: 60_000,
      channels: ['hook'],
      ...over,
    });
    const byFp = new Map(active.map((a) => [a.fingerprint, a]));
    for (const a of result.changed) byFp.set(a.fingerprint, a);
    active = [...byFp.values()].filter((a) => a.state !== 'resolved');
    out.push(result);
  }
  return out;
}

describe('alert lifecycle', () => {
  it('fingerprints by rule and sorted labels', () => {
    expect(fingerprint('r', { a: '1', b: '2' })).toBe(fingerprint('r', { b: '2', a: '1' }));
    expect(fingerprint('r', { a: '1' })).not.toBe(fingerprint('q', { a: '1' }));
    expect(fingerprint('r', { a: '1' })).toMatch(/^[0-9a-f]{16}$/);
  });

  it('is pending until the for-duration held, then fires and notifies once, then resolves with a notice', () => {
    const [c0, c1, c2, c3, c4] = cycles([
      { at: 0, conditions: [sealed] },
      { at: 5, conditions: [sealed] },
      { at: 10, conditions: [sealed] },
      { at: 15, conditions: [sealed] },
      { at: 20, conditions: [] },
    ]);
    expect(c0!.changed[0]).toMatchObject({ state: 'pending', fired_at: null });
    expect(c0!.notices).toEqual([]);
    expect(c1!.changed[0]!.state).toBe('pending');
    expect(c2!.changed[0]).toMatchObject({ state: 'firing', fired_at: at(10).toISOString() });
    expect(c2!.notices).toMatchObject([
      { channel: 'hook', kind: 'firing', payload: { rule: 'node-sealed' } },
    ]);
    expect(c3!.notices).toEqual([]);
    expect(c4!.changed[0]).toMatchObject({ state: 'resolved', resolved_at: at(20).toISOString() });
    expect(c4!.notices).toMatchObject([{ kind: 'resolved' }]);
  });

  it('a pending alert that clears resolves without a notice; a rule that could not look changes nothing', () => {
    const [, cleared] = cycles([
      { at: 0, conditions: [sealed] },
      { at: 5, conditions: [] },
    ]);
    expect(cleared!.changed[0]!.state).toBe('resolved');
    expect(cleared!.notices).toEqual([]);
    const [, blind] = cycles([
      { at: 0, conditions: [sealed] },
      { at: 5, conditions: undefined },
    ]);
    expect(blind!.changed).toEqual([]);
  });

  it('repeats after the repeat interval unless acknowledged', () => {
    const runs = cycles(
      [
        { at: 10, conditions: [sealed] },
        { at: 20, conditions: [sealed] },
        { at: 70, conditions: [sealed] },
      ],
      { ignoreFor: true },
    );
    expect(runs.map((r) => r.notices.length)).toEqual([1, 0, 1]);
    const first = runs[0]!.changed[0]!;
    const acked = advanceAlerts({
      rules: [rule],
      results: new Map([[rule.id, [sealed]]]),
      active: [{ ...first, acked_by: 'alice' }],
      silences: [],
      now: at(200),
      repeatMs: 60_000,
      channels: ['hook'],
    });
    expect(acked.notices).toEqual([]);
  });

  it('a matching silence suppresses notices and names itself on the alert', () => {
    const silence: Silence = {
      id: 's1',
      matchers: { rule: 'node-sealed', node: 'n1' },
      author: 'alice',
      comment: 'maintenance',
      created_at: at(0).toISOString(),
      ends_at: at(3600).toISOString(),
    };
    const [run] = cycles([{ at: 0, conditions: [sealed, { labels: { node: 'n2' }, summary: 'n2' }] }], {
      silences: [silence],
      ignoreFor: true,
    });
    expect(run!.changed.map((a) => a.silenced_by)).toEqual(['s1 (alice)', null]);
    expect(run!.notices.map((n) => n.payload['labels'])).toEqual([{ node: 'n2' }]);
  });
});
