import { describe, expect, it } from 'vitest';
import { parseServerInfo } from '../../vault/server-info.js';
import { served } from './unauthed-endpoints.check.js';

const openbao = (version: string) => parseServerInfo({ version, commit_date: '2026-01-01T00:00:00Z' });

describe('whether a listener serves the unauthenticated endpoints', () => {
  it('follows the setting as OpenBao parses it (Go ParseBool), whatever the version', () => {
    for (const value of [true, 'true', 'TRUE', 't', '1', 1])
      expect(served('rekey', value, openbao('2.4.0'))).toBe(false);
    for (const value of [false, 'false', 'F', '0', 0])
      expect(served('generate-root', value, openbao('2.7.2'))).toBe(true);
  });

  it('falls back to the version default when the listener does not say: rekey closed from 2.5.0, generate-root from 2.5.3', () => {
    expect(served('rekey', undefined, openbao('2.4.3'))).toBe(true);
    expect(served('rekey', undefined, openbao('2.5.0'))).toBe(false);
    expect(served('generate-root', undefined, openbao('2.5.2'))).toBe(true);
    expect(served('generate-root', undefined, openbao('2.5.3'))).toBe(false);
    expect(served('generate-root', undefined, openbao('2.7.2'))).toBe(false);
    expect(served('rekey', undefined, openbao('3.0.0'))).toBe(false);
    // A value the parser would refuse never reaches a running server; treat it as unset.
    expect(served('rekey', 'maybe', openbao('2.7.2'))).toBe(false);
  });

  it('assumes HashiCorp Vault serves them unless the listener says otherwise', () => {
    const vault = parseServerInfo({ version: '1.21.0', build_date: '2026-01-01T00:00:00Z' });
    expect(served('rekey', undefined, vault)).toBe(true);
    expect(served('rekey', true, vault)).toBe(false);
  });
});
