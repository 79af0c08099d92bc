import { describe, expect, it } from 'vitest';
import type { FailedLogin } from '../../store/repositories/audit-logins.repository.js';
import { groupFailures, knownErrorMessages, type FailureReason } from './classify.js';

const failure = (over: Partial<FailedLogin>): FailedLogin => ({
  time: '2026-01-01T00:00:00.000000000Z',
  path: 'auth/approle/login',
  mount_point: 'auth/approle/',
  mount_type: 'approle',
  remote_address: '127.0.0.1',
  error: 'invalid credentials',
  hmac_values: '',
  ...over,
});

const errors = new Map<string, FailureReason>([
  ['hmac-sha256:invalid', 'invalid-secret-id'],
  ['hmac-sha256:cidr', 'bound-cidr-mismatch'],
  ['hmac-sha256:userpass', 'invalid-password'],
]);
const roles = new Map([['hmac-sha256:mailer-role-id', { mount: 'auth/approle/', role: 'mailer' }]]);

describe('groupFailures', () => {
  it('names the role by its role_id hash and the reason by the error hash', () => {
    const groups = groupFailures(
      [
        failure({ hmac_values: 'hmac-sha256:mailer-role-id hmac-sha256:secret hmac-sha256:invalid' }),
        failure({
          time: '2026-01-01T00:00:05.000000000Z',
          hmac_values: 'hmac-sha256:mailer-role-id hmac-sha256:secret2 hmac-sha256:invalid',
          remote_address: '10.0.0.9',
        }),
      ],
      errors,
      roles,
    );
    expect(groups).toEqual([
      {
        mount: 'auth/approle/',
        principal: 'mailer',
        reason: 'invalid-secret-id',
        count: 2,
        first: '2026-01-01T00:00:00.000000000Z',
        last: '2026-01-01T00:00:05.000000000Z',
        remote_addresses: ['10.0.0.9', '127.0.0.1'],
      },
    ]);
  });

  it('tells an unknown role_id from a wrong secret ID', () => {
    const [group] = groupFailures(
      [failure({ hmac_values: 'hmac-sha256:other hmac-sha256:invalid' })],
      errors,
      roles,
    );
    expect(group).toMatchObject({ reason: 'role-not-found' });
    expect(group!.principal).toBeUndefined();
  });

  it('reads the user from a userpass path, permission denied from the plain error, the rest unclassified', () => {
    const groups = groupFailures(
      [
        failure({
          path: 'auth/userpass/login/bob',
          mount_type: 'userpass',
          error: null,
          hmac_values: 'hmac-sha256:userpass',
        }),
        failure({
          path: 'auth/nosuch/login',
          mount_point: null,
          mount_type: null,
          error: '1 error occurred:\n\t* permission denied\n\n',
        }),
        failure({ path: 'auth/jwt/login', mount_type: 'jwt', error: null, hmac_values: 'hmac-sha256:x' }),
      ],
      errors,
      roles,
    );
    expect(groups.map((g) => [g.mount, g.principal, g.reason])).toEqual([
      ['auth/jwt/', undefined, 'unclassified'],
      ['auth/nosuch/', undefined, 'permission-denied'],
      ['auth/userpass/', 'bob', 'invalid-password'],
    ]);
  });

  it('marks a group recovered when the same role logged in after its last failure', () => {
    const failures = [failure({ hmac_values: 'hmac-sha256:mailer-role-id hmac-sha256:cidr' })];
    const later = [
      {
        mount_point: 'auth/approle/',
        metadata: { role_name: 'mailer' },
        count: 1,
        last: '2026-01-01T00:01:00.000000000Z',
      },
    ];
    const earlier = [{ ...later[0]!, last: '2025-12-31T23:00:00.000000000Z' }];
    expect(groupFailures(failures, errors, roles, later)[0]!.recovered_at).toBe(later[0]!.last);
    expect(groupFailures(failures, errors, roles, earlier)[0]!.recovered_at).toBeUndefined();
  });
});

describe('knownErrorMessages', () => {
  it('has the CIDR refusal exactly as OpenBao 2.7 words it, per source address', () => {
    const messages = knownErrorMessages(['127.0.0.1']).map(([m]) => m);
    expect(messages).toContain(
      'source address "127.0.0.1" unauthorized by CIDR restrictions on the role: %!w(<nil>)',
    );
    expect(messages).toContain('invalid role or secret ID');
  });
});
