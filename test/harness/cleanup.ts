/**
 * Processes a test started are killed when the test process ends, however it ends: afterAll hooks
 * stop them normally, and this catches a crash or an interrupted run.
 */
const pids = new Set<number>();
let installed = false;

export function trackPid(pid: number): void {
  pids.add(pid);
  if (installed) return;
  installed = true;
  const killAll = () => {
    for (const p of pids) {
      try {
        process.kill(p, 'SIGKILL');
      } catch {
        // already gone
      }
    }
  };
  process.on('exit', killAll);
  for (const signal of ['SIGINT', 'SIGTERM'] as const)
    process.once(signal, () => {
      killAll();
      process.exit(130);
    });
}

export function untrackPid(pid: number): void {
  pids.delete(pid);
}
