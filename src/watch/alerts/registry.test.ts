import { describe, expect, it } from 'vitest';
import { RUNBOOKS } from '../../runbooks/registry.js';
import { auditFailureCounters } from '../poll.js';
import { ALERT_RULES } from './registry.js';

describe('alert rule registry', () => {
  it('keys every rule by its own id and names runbooks that exist', () => {
    for (const [key, rule] of Object.entries(ALERT_RULES)) {
      expect(rule.id).toBe(key);
      if (rule.runbook !== null) expect(Object.keys(RUNBOOKS)).toContain(rule.runbook);
    }
  });

  it('reads the audit failure counters from Prometheus text, absent series as 0', () => {
    const text = [
      '# TYPE vault_audit_log_request_failure counter',
      'vault_audit_log_request_failure 2',
      'vault_audit_log_request_failure_extra 99',
      'vault_audit_log_response_failure{cluster="c"} 1',
      'vault_audit_log_response_failure{cluster="d"} 3',
    ].join('\n');
    expect(auditFailureCounters(text)).toEqual({ requestFailures: 2, responseFailures: 4 });
    expect(auditFailureCounters('vault_core_unsealed 1\n')).toEqual({
      requestFailures: 0,
      responseFailures: 0,
    });
  });
});
