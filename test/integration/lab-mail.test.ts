import { createTransport } from 'nodemailer';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/load.js';
import { isAlive } from '../../src/lab/processes.js';
import { startTestLab, type TestLab } from '../harness/bao-lab.js';
import { runCli } from '../harness/cli.js';

/** `lab up` starts an SMTP catcher the lab's config routes notices to; `lab mail` lists its inbox. */
describe('lab mail catcher', () => {
  let lab: TestLab;
  beforeAll(async () => {
    lab = await startTestLab({ nodes: 1, tenants: 1 });
  });
  afterAll(async () => {
    await lab?.stop();
  });

  it('catches mail (once per Message-ID), lists it, and stops with lab down', async () => {
    const mail = lab.lab().mail!;
    expect(isAlive(mail.pid)).toBe(true);
    const config = loadConfig({ config: lab.configFile }, {});
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

    const listed = await runCli(['lab', 'mail', '--dir', lab.dir, '--json']);
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

    const down = await runCli(['lab', 'down', '--dir', lab.dir, '--json']);
    expect(down.code).toBe(0);
    expect(isAlive(mail.pid)).toBe(false);
  });
});
