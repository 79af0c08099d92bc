import { headline, runbookLine, type AlertChannel } from './channel.js';
import { hostOf, postJson } from './post-json.js';

/** A Slack-compatible incoming webhook (Slack, Mattermost, Rocket.Chat): `{"text": …}` with mrkdwn. */
export function slackChannel(options: { name: string; url: string; timeoutMs: number }): AlertChannel {
  const where = `slack webhook ${hostOf(options.url)}`;
  return {
    name: options.name,
    send: (notice) => {
      const a = notice.alert;
      const labels = Object.entries(a.labels).map(([k, v]) => `${k}=${v}`);
      const lines = [
        `*${headline(notice)}*`,
        ...(labels.length > 0 ? [`labels: ${labels.join(', ')}`] : []),
        `fingerprint: \`${a.fingerprint}\` since ${a.started_at}`,
        ...(runbookLine(a) ? [`\`${runbookLine(a)}\``] : []),
      ];
      return postJson(options.url, { text: lines.join('\n') }, { timeoutMs: options.timeoutMs, where });
    },
    close: () => undefined,
  };
}
