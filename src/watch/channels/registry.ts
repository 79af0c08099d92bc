import { readCredential } from '../../config/credential.js';
import type { WatchChannelConfig } from '../../config/watch.schema.js';
import type { AlertChannel } from './channel.js';
import { emailChannel } from './email.channel.js';
import { pagerdutyChannel } from './pagerduty.channel.js';
import { slackChannel } from './slack.channel.js';
import { webhookChannel } from './webhook.channel.js';

type ChannelKind = WatchChannelConfig['kind'];
type Env = Readonly<Record<string, string | undefined>>;

/** Builds a channel from its configuration, reading its secrets from their references. */
const CHANNELS: {
  [K in ChannelKind]: (
    config: Extract<WatchChannelConfig, { kind: K }>,
    name: string,
    env: Env,
  ) => AlertChannel;
} = {
  webhook: (c, name, env) =>
    webhookChannel({
      name,
      url: c.url,
      signingKey: readCredential(c.signing_key, `watch channel ${name}: signing_key`, env),
      timeoutMs: c.timeout_ms,
    }),
  slack: (c, name, env) =>
    slackChannel({
      name,
      url: readCredential(c.url, `watch channel ${name}: url`, env),
      timeoutMs: c.timeout_ms,
    }),
  pagerduty: (c, name, env) =>
    pagerdutyChannel({
      name,
      url: c.url,
      routingKey: readCredential(c.routing_key, `watch channel ${name}: routing_key`, env),
      timeoutMs: c.timeout_ms,
    }),
  email: (c, name, env) =>
    emailChannel({
      name,
      config: c,
      password: c.smtp.auth
        ? readCredential(c.smtp.auth.password, `watch channel ${name}: smtp.auth.password`, env)
        : undefined,
    }),
};

/** The name a channel goes by: its `name`, else its kind. */
export const channelName = (c: WatchChannelConfig) => c.name ?? c.kind;

export function createChannel(config: WatchChannelConfig, env: Env = process.env): AlertChannel {
  const name = channelName(config);
  switch (config.kind) {
    case 'webhook':
      return CHANNELS.webhook(config, name, env);
    case 'slack':
      return CHANNELS.slack(config, name, env);
    case 'pagerduty':
      return CHANNELS.pagerduty(config, name, env);
    case 'email':
      return CHANNELS.email(config, name, env);
  }
}
