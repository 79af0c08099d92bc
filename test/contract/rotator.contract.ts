import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { silentLogger } from '../../src/logging/logger.js';
import type { RotationInput, Rotator, SecretData, SecretRef } from '../../src/rotate/rotator.js';

/**
 * The contract every rotator passes against its real target (sshd, PostgreSQL, BIND, an SMTP
 * server, …). `works` asks the real system whether a value is accepted: it logs in, resolves,
 * authenticates — it never asks the rotator.
 */
export interface RotatorContractSetup {
  rotator: Rotator;
  /** A fresh secret for each test: the target already accepts `current`. */
  secret(): Promise<{ ref: SecretRef; current: SecretData }>;
  /** Does the real target accept this value now? */
  works(ref: SecretRef, data: SecretData): Promise<boolean>;
  /**
   * False where the target keeps accepting the old value after finalize can't be checked (a DNS
   * selector that stays published through a grace period). Every target run through this contract
   * can tell whether it knows the new value; vault-only modes are covered by the engine tests.
   */
  refusesOld: boolean;
  teardown(): Promise<void>;
}

export function rotatorContract(name: string, setup: () => Promise<RotatorContractSetup>): void {
  describe(`rotator contract: ${name}`, () => {
    let s: RotatorContractSetup;
    beforeAll(async () => {
      s = await setup();
    });
    afterAll(async () => {
      await s?.teardown();
    });

    const input = (ref: SecretRef, current: SecretData, next: SecretData): RotationInput => ({
      ref,
      current,
      next,
      logger: silentLogger(),
      signal: new AbortController().signal,
    });

    it('generates a new value and keeps the fields it does not rotate', async () => {
      const { ref, current } = await s.secret();
      const next = await s.rotator.generate(ref, current);
      expect(next).not.toEqual(current);
      const changed = Object.keys(current).filter((k) => current[k] !== next[k]);
      expect(changed.length).toBeGreaterThan(0);
      expect(changed.length).toBeLessThan(Object.keys(current).length + 1);
      expect(typeof s.rotator.targetOf(ref, current)).toBe('string');
    });

    it('apply (twice: idempotent) makes the new value work; verify agrees; finalize retires the old', async () => {
      const { ref, current } = await s.secret();
      expect(await s.works(ref, current)).toBe(true);
      const next = await s.rotator.generate(ref, current);
      const io = input(ref, current, next);
      await s.rotator.apply(io);
      await s.rotator.apply(io);
      expect(await s.works(ref, next)).toBe(true);
      await s.rotator.verify(io);
      await s.rotator.finalize(io);
      await s.rotator.finalize(io);
      expect(await s.works(ref, next)).toBe(true);
      if (s.refusesOld) {
        expect(await s.works(ref, current)).toBe(false);
        await s.rotator.verifyOldRefused?.(io);
      }
    });

    it('rollback after apply restores the old value and forgets the new one', async () => {
      const { ref, current } = await s.secret();
      const next = await s.rotator.generate(ref, current);
      const io = input(ref, current, next);
      await s.rotator.apply(io);
      await s.rotator.rollback(io);
      await s.rotator.rollback(io);
      expect(await s.works(ref, current)).toBe(true);
      if (s.refusesOld) expect(await s.works(ref, next)).toBe(false);
    });

    it('verify fails, naming the tenant and never the value, when the target does not know the new value', async () => {
      const { ref, current } = await s.secret();
      const next = await s.rotator.generate(ref, current);
      const error = await s.rotator.verify(input(ref, current, next)).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(Error);
      const message = (error as Error).message;
      expect(message).toContain(ref.tenant);
      // Secret fields only: a host, a user name or a domain may rightly appear in the message.
      for (const [field, value] of Object.entries(next))
        if (/password|private|secret|token/.test(field)) expect(message).not.toContain(value);
    });
  });
}
