import { createEmailChannel } from '../../notify/channels.js';
import type { WatchChannelConfig } from '../../config/watch.schema.js';
import type { AlertJson } from '../alert-json.js';
import { alertsOf, headline, runbookLine, type AlertChannel } from './channel.js';

type EmailConfig = Extract<WatchChannelConfig, { kind: 'email' }>;

/** Email through an SMTP relay (nodemailer, as tenant notices), one message per notice. */
export function emailChannel(options: {
  name: string;
  config: EmailConfig;
  password: string | undefined;
}): AlertChannel {
  const { config } = options;
  const email = createEmailChannel(
    { ...config.smtp, timeout_ms: config.timeout_ms },
    config.from,
    options.password,
  );
  return {
    name: options.name,
    send: (notice) => {
      const alerts = alertsOf(notice);
      const subject = headline(notice);
      const lines =
        alerts.length === 1
          ? [subject, '', ...details(alerts[0]!)]
          : [subject, ...alerts.flatMap((a) => ['', `${a.severity} ${a.rule}: ${a.summary}`, ...details(a)])];
      const text = lines.join('\n');
      return email.send({
        to: config.to.join(', '),
        subject,
        text,
        html: `<pre>${escapeHtml(text)}</pre>`,
        messageId: `<${notice.id}@sealwatch>`,
      });
    },
    close: () => email.close(),
  };
}

const escapeHtml = (text: string) =>
  text.replace(/[&<>"]/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;' })[c] ?? c);

/** Labels, fingerprint, times and runbook of one alert, a line each. */
function details(a: AlertJson): string[] {
  return [
    ...Object.entries(a.labels).map(([k, v]) => `${k}: ${v}`),
    `fingerprint: ${a.fingerprint}`,
    `started: ${a.started_at}`,
    ...(a.resolved_at ? [`resolved: ${a.resolved_at}`] : []),
    ...(runbookLine(a) ? [runbookLine(a)!] : []),
  ];
}
