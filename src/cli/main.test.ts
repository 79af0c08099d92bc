import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const MAIN = join(fileURLToPath(new URL('../..', import.meta.url)), 'dist', 'cli', 'main.js');

/** The built CLI's output to a reader that has gone (`sealwatch … | head`). */
function runIntoClosedPipe(args: string[]): Promise<{ code: number | null; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [MAIN, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    child.stdout.destroy();
    let stderr = '';
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stderr }));
  });
}

describe('the sealwatch CLI writing into a closed pipe', () => {
  it('stops quietly with the command exit code, without a stack trace', async () => {
    const { code, stderr } = await runIntoClosedPipe(['runbook', 'list', '--json']);
    expect(stderr).toBe('');
    expect(code).toBe(0);
  });
});
