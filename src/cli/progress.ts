import type { Output } from './output.js';

export interface ProgressBar {
  update(done: number, total: number, detail?: string): void;
  done(): void;
}

/**
 * A one-line progress bar with count and rate on a terminal's stderr; elsewhere (CI, pipes) a line
 * every 10% so logs stay readable. Never on stdout, which carries data.
 */
export function progressBar(
  out: Output,
  label: string,
  stream: NodeJS.WriteStream = process.stderr,
): ProgressBar {
  const started = Date.now();
  let lastDecile = -1;
  let drawn = false;
  let lastDraw = 0;
  return {
    update(done, total, detail = '') {
      const seconds = (Date.now() - started) / 1000;
      const rate = seconds > 0 ? (done / seconds).toFixed(1) : '0';
      if (stream.isTTY) {
        const now = Date.now();
        if (now - lastDraw < 100 && done < total) return;
        lastDraw = now;
        const width = 30;
        const filled = total > 0 ? Math.round((done / total) * width) : width;
        stream.write(
          `\r${label} [${'#'.repeat(filled)}${'-'.repeat(width - filled)}] ${done}/${total} ${detail} ${rate}/s\x1b[K`,
        );
        drawn = true;
        return;
      }
      const decile = total > 0 ? Math.floor((done / total) * 10) : 10;
      if (decile !== lastDecile) {
        lastDecile = decile;
        out.progress(`${label}: ${done}/${total} ${detail} (${rate}/s)`);
      }
    },
    done() {
      if (drawn) stream.write('\n');
    },
  };
}
