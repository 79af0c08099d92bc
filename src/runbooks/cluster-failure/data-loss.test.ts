import { describe, expect, it } from 'vitest';
import { missingAgainstBaseline } from './data-loss.js';

const recorded = { policies: 5, auth_mounts: 3, secret_mounts: 4 };

describe('missingAgainstBaseline', () => {
  it('finds nothing missing when the counts are as recorded and the sample reads back', () => {
    expect(missingAgainstBaseline(recorded, recorded, { id: 'kv_sample', ok: true, detail: 'ok' })).toEqual(
      {},
    );
  });

  it('counts more than recorded as newer data, not loss', () => {
    expect(
      missingAgainstBaseline(recorded, { policies: 9, auth_mounts: 4, secret_mounts: 6 }, undefined),
    ).toEqual({});
  });

  it('names each count below the baseline and a sample that did not come back', () => {
    const missing = missingAgainstBaseline(
      recorded,
      { policies: 4, auth_mounts: 3, secret_mounts: 1 },
      { id: 'kv_sample', ok: false, detail: '1 of 20 sampled secret(s) did not come back: secret/x' },
    );
    expect(missing).toEqual({
      policies: '4 ACL policies, 5 recorded when the snapshot was taken',
      secret_mounts: '1 secret mounts, 4 recorded when the snapshot was taken',
      kv_sample: '1 of 20 sampled secret(s) did not come back: secret/x',
    });
  });
});
