import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { PostureReport } from '../../src/posture/posture.service.js';
import { startPlainBaoServer, type PlainBaoServer } from '../harness/bao-server.js';
import { launchChromium } from '../harness/chromium.js';
import { runCli } from '../harness/cli.js';

/** What a page did while it loaded: every request it made and every console error. */
async function open(browser: Browser, url: string) {
  const context = await browser.newContext();
  const requests: string[] = [];
  const errors: string[] = [];
  // Nothing leaves the machine: every request is recorded, and any but the file itself refused.
  await context.route('**/*', (route) =>
    route.request().url() === url ? route.continue() : route.abort('blockedbyclient'),
  );
  const page: Page = await context.newPage();
  page.on('request', (request) => requests.push(request.url()));
  page.on('console', (message) => {
    if (message.type() === 'error') errors.push(message.text());
  });
  page.on('pageerror', (error) => errors.push(error.message));
  await page.goto(url, { waitUntil: 'load', timeout: 60_000 });
  return { context, page, requests, errors };
}

/**
 * `posture --format html` from a real OpenBao configured wrong on purpose, opened in Debian's
 * headless Chromium: no network request, no console error, every finding on the page, a screenshot.
 */
describe('posture HTML report in headless Chromium', () => {
  let server: PlainBaoServer;
  let browser: Browser;
  let scratch: string;
  let report: PostureReport;
  let htmlFile: string;

  beforeAll(async () => {
    scratch = mkdtempSync(join(tmpdir(), 'sealwatch-posture-html-'));
    [server, browser] = await Promise.all([
      startPlainBaoServer({ shares: 1, threshold: 1, listenAll: true }),
      launchChromium(),
    ]);
    const root = server.client();
    await root.tokenCreate({ policies: ['root'], display_name: 'leftover' });
    await root.enableAuth('userpass', { type: 'userpass' });
    const env = {
      BAO_ADDR: server.address,
      BAO_TOKEN: server.rootToken,
      SEALWATCH_STORE: join(scratch, 's.db'),
    };
    htmlFile = join(scratch, 'posture.html');
    // One audit window for both runs, so that the two reports hold the same findings word for word.
    const since = new Date(Date.now() - 86_400_000).toISOString();
    const html = await runCli(['posture', '--format', 'html', '--output', htmlFile, '--since', since], {
      env,
      cwd: scratch,
    });
    expect(html.code, html.stderr).toBe(0);
    const json = await runCli(['posture', '--json', '--since', since], { env, cwd: scratch });
    expect(json.code, json.stderr).toBe(0);
    report = json.json<PostureReport>();
  }, 180_000);

  afterAll(async () => {
    await browser?.close();
    await server?.stop();
    if (scratch) rmSync(scratch, { recursive: true, force: true });
  });

  it('renders every finding with no network request and no console error, and takes a screenshot', async () => {
    const url = pathToFileURL(htmlFile).href;
    const { context, page, requests, errors } = await open(browser, url);
    try {
      expect(requests).toEqual([url]);
      expect(errors).toEqual([]);
      expect(await page.title()).toBe(`sealwatch posture ${server.address}`);
      expect(await page.locator('h1').innerText()).toBe('sealwatch posture');

      // The findings of the same server, as the JSON report has them, are all on the page.
      expect(report.findings.length).toBeGreaterThan(3);
      const ids = report.findings.map((f) => f.id);
      expect(ids).toEqual(expect.arrayContaining(['seal:single-share', 'audit-devices:single']));
      const body = await page.locator('body').innerText();
      for (const finding of report.findings) {
        expect(body).toContain(finding.id);
        expect(body).toContain(finding.title);
      }
      const high = report.findings.filter((f) => f.severity === 'high').length;
      expect(high).toBeGreaterThan(0);
      expect(await page.locator('td.high').count()).toBe(high);
      // No token on the page: the root token sealwatch ran with stays out of the report.
      expect(await page.content()).not.toContain(server.rootToken);

      const shot = join(scratch, 'posture.png');
      await page.screenshot({ path: shot, fullPage: true });
      const png = readFileSync(shot);
      expect(statSync(shot).size).toBeGreaterThan(10_000);
      expect(png.subarray(0, 8)).toEqual(Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]));
      // IHDR: width and height of the full page.
      expect(png.readUInt32BE(16)).toBeGreaterThan(0);
      expect(png.readUInt32BE(20)).toBeGreaterThan(200);
    } finally {
      await context.close();
    }
  });

  it('would see a page that fetches something (the recorder is not blind)', async () => {
    const leaky = join(scratch, 'leaky.html');
    writeFileSync(leaky, '<!DOCTYPE html><title>x</title><img src="http://127.0.0.1:9/x.png"><p>x</p>');
    const url = pathToFileURL(leaky).href;
    const { context, requests, errors } = await open(browser, url);
    try {
      expect(requests).toEqual([url, 'http://127.0.0.1:9/x.png']);
      expect(errors.length).toBeGreaterThan(0);
    } finally {
      await context.close();
    }
  });
});
