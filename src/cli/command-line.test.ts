import { describe, expect, it } from 'vitest';
import { commandNamed } from './command-line.js';

describe('commandNamed: which command module the CLI loads', () => {
  it('finds the command after global options, skipping their values', () => {
    expect(commandNamed(['runbook', 'diagnose', 'sealed'])).toBe('runbook');
    expect(commandNamed(['--json', '--config', 'x.yaml', 'status'])).toBe('status');
    expect(commandNamed(['--addr', 'http://a', '--token', 't', '--log-level', 'debug', 'lab', 'up'])).toBe(
      'lab',
    );
    expect(commandNamed(['--config=x.yaml', 'assess'])).toBe('assess');
  });
  it('has none for bare help or version', () => {
    expect(commandNamed(['--help'])).toBeUndefined();
    expect(commandNamed([])).toBeUndefined();
  });
});
