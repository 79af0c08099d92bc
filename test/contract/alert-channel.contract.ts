import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AlertJson } from '../../src/watch/alert-json.js';
import type { AlertChannel, AlertNotice } from '../../src/watch/channels/channel.js';

/** What a real receiver got, decoded from the channel's own wire format. */
export interface ReceivedNotice {
  kind: 'firing' | 'resolved';
  fingerprint: string;
  /** Every alert the message tells, in order (one for a single notice). */
  fingerprints: string[];
}

/**
 * The contract every alert channel passes against a real receiver (an HTTP server, an SMTP
 * server): notices arrive and say what fired or resolved; a receiver that fails or never answers
 * makes a result, never a throw, within the channel's timeout.
 */
export interface AlertChannelContractSetup {
  /** A channel aimed at a receiver that accepts, one that answers an error, one that never answers. */
  channel(target: 'ok' | 'fail' | 'hang'): AlertChannel;
  /** Notices the accepting receiver has, decoded. */
  received(): Promise<ReceivedNotice[]>;
  /** The channel's timeout, configured by the setup. */
  timeoutMs: number;
  /**
   * How a group of notices arrives: as one message telling every alert, or (PagerDuty, whose
   * Events API takes one event per request) as one message per alert.
   */
  grouped: 'one-message' | 'one-per-alert';
  teardown(): Promise<void>;
}

export const sampleAlert = (over: Partial<AlertJson> = {}): AlertJson => ({
  fingerprint: '0123456789abcdef',
  rule: 'node-sealed',
  severity: 'critical',
  state: 'firing',
  labels: { node: 'http://127.0.0.1:8200' },
  summary: 'http://127.0.0.1:8200 is sealed',
  runbook: 'sealed',
  started_at: '2026-12-06T03:00:00.000Z',
  fired_at: '2026-12-06T03:00:00.000Z',
  resolved_at: null,
  last_notified_at: '2026-12-06T03:00:00.000Z',
  acked_by: null,
  silenced_by: null,
  ...over,
});

export function alertChannelContract(name: string, setup: () => Promise<AlertChannelContractSetup>): void {
  describe(`alert channel contract: ${name}`, () => {
    let s: AlertChannelContractSetup;
    beforeAll(async () => {
      s = await setup();
    });
    afterAll(async () => {
      await s?.teardown();
    });

    it('delivers a firing and a resolve notice that name the alert', async () => {
      const channel = s.channel('ok');
      const firing: AlertNotice = { kind: 'firing', alert: sampleAlert(), id: 'n-1' };
      const resolved: AlertNotice = {
        kind: 'resolved',
        alert: sampleAlert({ state: 'resolved', resolved_at: '2026-12-06T03:05:00.000Z' }),
        id: 'n-2',
      };
      expect(await channel.send(firing)).toEqual({ ok: true });
      expect(await channel.send(resolved)).toEqual({ ok: true });
      channel.close();
      expect(await s.received()).toEqual([
        { kind: 'firing', fingerprint: '0123456789abcdef', fingerprints: ['0123456789abcdef'] },
        { kind: 'resolved', fingerprint: '0123456789abcdef', fingerprints: ['0123456789abcdef'] },
      ]);
    });

    it('delivers a group of notices as one message naming every alert (PagerDuty: one event each)', async () => {
      const channel = s.channel('ok');
      const before = (await s.received()).length;
      const first = sampleAlert({
        fingerprint: 'aaaaaaaaaaaaaaa1',
        labels: { node: 'http://10.0.0.1:8200' },
      });
      const second = sampleAlert({
        fingerprint: 'aaaaaaaaaaaaaaa2',
        labels: { node: 'http://10.0.0.2:8200' },
        summary: 'http://10.0.0.2:8200 is sealed',
      });
      const grouped: AlertNotice = { kind: 'firing', alert: first, alerts: [first, second], id: 'n-5' };
      expect(await channel.send(grouped)).toEqual({ ok: true });
      channel.close();
      const got = (await s.received()).slice(before);
      if (s.grouped === 'one-message')
        expect(got).toEqual([
          {
            kind: 'firing',
            fingerprint: first.fingerprint,
            fingerprints: [first.fingerprint, second.fingerprint],
          },
        ]);
      else
        expect(got).toEqual([
          { kind: 'firing', fingerprint: first.fingerprint, fingerprints: [first.fingerprint] },
          { kind: 'firing', fingerprint: second.fingerprint, fingerprints: [second.fingerprint] },
        ]);
    });

    it('answers a failure (not a throw) when the receiver refuses', async () => {
      const channel = s.channel('fail');
      const result = await channel.send({ kind: 'firing', alert: sampleAlert(), id: 'n-3' });
      channel.close();
      expect(result.ok).toBe(false);
      expect(!result.ok && result.error).toMatch(/\S/);
    });

    it('gives up on a receiver that never answers within its timeout, as retryable', async () => {
      const channel = s.channel('hang');
      const started = Date.now();
      const result = await channel.send({ kind: 'firing', alert: sampleAlert(), id: 'n-4' });
      channel.close();
      expect(result).toMatchObject({ ok: false, retryable: true });
      expect(Date.now() - started).toBeLessThan(s.timeoutMs + 3_000);
    });
  });
}
