import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createTransport } from 'nodemailer';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/load.js';
import { readLabFile } from '../../src/lab/lab-file.js';
import { isAlive } from '../../src/util/processes.js';
import { removeCliLab, trackCliLab } from '../harness/bao-lab.js';
import { runCli } from '../harness/cli.js';

/**
 * `lab up` starts an SMTP catcher the lab's config routes notices to; `lab mail` lists its inbox.
 * The lab is started by the built CLI, as `scripts/drill` starts it: the catcher is a program of
 * its own beside the bundle, and only the built CLI starts that one.
 */
describe('lab mail catcher', () => {
  let dir: string;
  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'sealwatch-lab-'));
    const up = await runCli(['lab', 'up', '--dir', dir, '--nodes', '1', '--tenants', '1', '--json']);
    trackCliLab(dir);
    expect(up.code, up.stderr).toBe(0);
  });
  afterAll(() => removeCliLab(dir));

  it('catches mail (once per Message-ID), lists it, and stops with lab down', async () => {
    const mail = readLabFile(dir).mail!;
    expect(isAlive(mail.pid)).toBe(true);
    const config = loadConfig({ config: join(dir, 'sealwatch.yaml') }, {});
    expect(config.notify?.smtp).toMatchObject({ host: '127.0.0.1', port: mail.port, starttls: 'none' });

    const transport = createTransport({ host: '127.0.0.1', port: mail.port, ignoreTLS: true, logger: false });
    const message = {
      from: 'Security <security@platform.example>',
      to: 'security@tenant-0001.mail.example',
      subject: 'Security incident INC-9',
      text: 'hello',
      messageId: '<INC-9.tenant-0001@sealwatch>',
    };
    await transport.sendMail(message);
    await transport.sendMail(message); // a resend after a crash: the catcher keeps one
    transport.close();

    const listed = await runCli(['lab', 'mail', '--dir', dir, '--json']);
    expect(listed.code).toBe(0);
    const { messages } = listed.json<{ messages: Array<Record<string, string>> }>();
    expect(messages).toHaveLength(1);
    expect(messages[0]).toMatchObject({
      from: 'Security <security@platform.example>',
      to: 'security@tenant-0001.mail.example',
      subject: 'Security incident INC-9',
      message_id: '<INC-9.tenant-0001@sealwatch>',
    });
    expect(messages[0]!['date']).toBeTruthy();

    const down = await runCli(['lab', 'down', '--dir', dir, '--json']);
    expect(down.code).toBe(0);
    expect(isAlive(mail.pid)).toBe(false);
  });
});
