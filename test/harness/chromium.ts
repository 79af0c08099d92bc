import { existsSync } from 'node:fs';
import { chromium, type Browser } from 'playwright-core';

/** Debian's chromium (scripts/setup --tests installs it), or SEALWATCH_CHROMIUM. */
export function chromiumPath(): string {
  const path = process.env['SEALWATCH_CHROMIUM'] ?? '/usr/bin/chromium';
  if (!existsSync(path)) throw new Error(`${path} is missing: run scripts/setup --tests (Debian's chromium)`);
  return path;
}

/**
 * Headless Chromium through playwright-core, which downloads no browser of its own. As root (CI runs
 * as root) Chromium refuses to start without --no-sandbox.
 */
export function launchChromium(): Promise<Browser> {
  return chromium.launch({
    executablePath: chromiumPath(),
    headless: true,
    args: process.getuid?.() === 0 ? ['--no-sandbox'] : [],
    timeout: 60_000,
  });
}
