import { alertsOf, headline, runbookLine, type AlertChannel } from './channel.js';
import type { AlertJson } from '../alert-json.js';
import { hostOf, postJson } from './post-json.js';

/** A Slack-compatible incoming webhook (Slack, Mattermost, Rocket.Chat): `{"text": …}` with mrkdwn. */
export function slackChannel(options: { name: string; url: string; timeoutMs: number }): AlertChannel {
  const where = `slack webhook ${hostOf(options.url)}`;
  return {
    name: options.name,
    send: (notice) => {
      const alerts = alertsOf(notice);
      const lines =
        alerts.length === 1
          ? [`*${headline(notice)}*`, ...details(alerts[0]!)]
          : [
              `*${headline(notice)}*`,
              ...alerts.flatMap((a) => [
                `• ${a.severity} ${a.rule}: ${a.summary}`,
                ...details(a).map((l) => `   ${l}`),
              ]),
            ];
      return postJson(options.url, { text: lines.join('\n') }, { timeoutMs: options.timeoutMs, where });
    },
    close: () => undefined,
  };
}

/** Labels, fingerprint and runbook of one alert, a line each. */
function details(a: AlertJson): string[] {
  const labels = Object.entries(a.labels).map(([k, v]) => `${k}=${v}`);
  return [
    ...(labels.length > 0 ? [`labels: ${labels.join(', ')}`] : []),
    `fingerprint: \`${a.fingerprint}\` since ${a.started_at}`,
    ...(runbookLine(a) ? [`\`${runbookLine(a)}\``] : []),
  ];
}
