import { Command, InvalidArgumentError, Option } from 'commander';
import { PathTemplateMatcher } from '../../config/path-template.js';
import { ConfigError } from '../../errors.js';
import { FINDING_SEVERITIES, type FindingSeverity } from '../../runbooks/finding.js';
import { parseDuration } from '../../util/duration.js';
import { toAlertJson } from '../../watch/alert-json.js';
import { createChannel, channelName } from '../../watch/channels/registry.js';
import { startWatchHttp } from '../../watch/http.js';
import { createIncidents } from '../../playbook/incident.service.js';
import { breachFor, createAutoResponder } from '../../watch/auto-response.js';
import { createWatchLease, takeSoleLease } from '../../watch/lease.js';
import { PLAYBOOKS } from '../playbooks.js';
import { WatchMetrics } from '../../watch/metrics.js';
import { createWatch, type CycleResult } from '../../watch/watch.service.js';
import { ruleSettings } from '../../watch/rule-settings.js';
import type { CliContext } from '../context.js';
import { EXIT } from '../exit-codes.js';
import { examples } from '../help.js';
import type { CommandRunner } from '../runner.js';

interface WatchOptions {
  listen?: string;
  auditSocket: string[];
  auditFile: string[];
  interval?: number;
  once: boolean;
  failOn?: FindingSeverity;
}

/** Position in FINDING_SEVERITIES (info lowest); -1 for a severity sealwatch does not know. */
const rank = (severity: string) => FINDING_SEVERITIES.findIndex((s) => s === severity);

const collect = (value: string, previous: string[]) => [...previous, value];

const duration = (value: string): number => {
  const ms = parseDuration(value);
  if (ms === undefined || ms <= 0)
    throw new InvalidArgumentError('must be a duration such as 500ms, 5s or 1m');
  return ms;
};

export function watchCommand(run: CommandRunner): Command {
  return new Command('watch')
    .description(
      'the always-on monitor: polls every node, receives the audit stream, fires alerts, notifies, serves /metrics',
    )
    .option('--listen <host:port>', '/metrics and /healthz address (default watch.listen, 127.0.0.1:9464)')
    .option('--audit-socket <host:port>', 'receive a socket audit device here (repeatable)', collect, [])
    .option('--audit-file <file>', 'follow a file audit device (repeatable)', collect, [])
    .option('--interval <duration>', 'time between polls (default watch.interval, 5s)', duration)
    .option('--once', 'one cycle (for-durations not waited for), notify, exit; see --fail-on', false)
    .addOption(
      new Option(
        '--fail-on <severity>',
        'with --once: exit 3 when an alert of at least this severity fires',
      ).choices(FINDING_SEVERITIES),
    )
    .addHelpText(
      'after',
      examples(
        'sealwatch watch',
        'sealwatch watch --audit-socket 127.0.0.1:9090 --audit-file /var/log/openbao/audit.log --interval 5s',
        'sealwatch watch --once --fail-on high --json',
      ),
    )
    .action(
      run(async (ctx: CliContext, opts: WatchOptions) => {
        const config = ctx.config();
        const w = config.watch;
        const nodeTimeoutMs = parseDuration(w.node_timeout)!;
        const store = await ctx.store();
        const channels = w.channels.map((c) => createChannel(c));
        const metrics = new WatchMetrics();
        const vault = ctx.vault().withLimits({ timeoutMs: nodeTimeoutMs, retries: 0 });
        const leaseTtlMs = parseDuration(w.ha.lease_ttl)!;
        if (leaseTtlMs < 1_000)
          throw new ConfigError(`watch.ha.lease_ttl: ${w.ha.lease_ttl} is too short (at least 1s)`);
        const lease = createWatchLease({
          store,
          ttlMs: leaseTtlMs,
          logger: ctx.logger.child({ component: 'watch-lease' }),
          onRoleChange: (leader) => metrics.leader.set(leader ? 1 : 0),
        });
        const watch = createWatch({
          vault,
          nodes: config.vault.addresses,
          store,
          audit: {
            store,
            matcher: new PathTemplateMatcher(config.tenancy.paths),
            logger: ctx.logger.child({ component: 'audit' }),
          },
          channels,
          metrics,
          lease,
          // Off unless watch.auto_response names a rule: then only those rules act.
          ...(Object.keys(w.auto_response).length > 0
            ? {
                autoResponse: createAutoResponder({
                  actions: w.auto_response,
                  vault: ctx.vault(),
                  store,
                  incidents: createIncidents({ store, logger: ctx.logger, playbooks: PLAYBOOKS }),
                  breach: async (request) => breachFor(await ctx.playbookDeps())(request),
                  lease,
                  logger: ctx.logger.child({ component: 'auto-response' }),
                }),
              }
            : {}),
          logger: ctx.logger.child({ component: 'watch' }),
          detect: {
            store,
            thresholds: config.assess,
            tenancy: config.tenancy,
            quietMs: parseDuration(w.detection_quiet)!,
          },
          settings: {
            intervalMs: opts.interval ?? parseDuration(w.interval)!,
            nodeTimeoutMs,
            repeatMs: parseDuration(w.repeat_interval)!,
            leaderChangesMax: w.rules.leader_changes_max,
            leaderChangesWithinMs: parseDuration(w.rules.leader_changes_within)!,
            forMs: Object.fromEntries(Object.entries(w.rules.for).map(([id, d]) => [id, parseDuration(d)!])),
            retries: new Map(
              w.channels.map((c) => [
                channelName(c),
                { attempts: c.retries.attempts, backoffMs: c.retries.backoff_ms },
              ]),
            ),
            auditSockets: opts.auditSocket.length > 0 ? opts.auditSocket : w.audit_sockets,
            auditFiles: opts.auditFile.length > 0 ? opts.auditFile : w.audit_files,
            tlsListeners: w.tls_listeners,
            tlsProbeEveryMs: parseDuration(w.tls_probe_interval)!,
            rules: ruleSettings(w.rules),
            ...(w.grouping
              ? {
                  grouping: {
                    groupBy: w.grouping.group_by,
                    waitMs: parseDuration(w.grouping.group_wait)!,
                    intervalMs: parseDuration(w.grouping.group_interval)!,
                  },
                }
              : {}),
            rateLimits: new Map(
              w.channels.flatMap((c) =>
                c.rate_limit_per_minute ? [[channelName(c), c.rate_limit_per_minute] as const] : [],
              ),
            ),
          },
        });
        try {
          if (opts.once) {
            await lease.tick();
            const result = await (async () => {
              try {
                const cycled = await watch.cycle({ once: true });
                await watch.deliver();
                return cycled;
              } finally {
                await lease.release();
              }
            })();
            render(ctx, result);
            if (result.standby)
              ctx.out.error(
                `sealwatch: another watch (${lease.status().leader ?? 'unknown'}) holds the lease: alerts were evaluated by it, this run kept and notified nothing`,
              );
            const failOn = opts.failOn;
            if (failOn && result.active.some((a) => a.state === 'firing' && rank(a.severity) >= rank(failOn)))
              return EXIT.findings;
            // Notices went out directly, but nothing was kept: a cron run must see that.
            if (result.storeError) return EXIT.failure;
            return;
          }
          // SQLite serves one watch: a second one refuses instead of standing by.
          if (store.dialect === 'sqlite') await takeSoleLease(lease, leaseTtlMs, store.location);
          const http = await startWatchHttp(opts.listen ?? w.listen, metrics, watch.health);
          const controller = new AbortController();
          const stop = () => controller.abort();
          process.once('SIGINT', stop);
          process.once('SIGTERM', stop);
          ctx.progress(
            `watching ${config.vault.addresses.length} node(s); metrics on http://${(opts.listen ?? w.listen).replace(/:\d+$/, '')}:${http.port}/metrics`,
          );
          try {
            await watch.run(controller.signal);
          } finally {
            process.off('SIGINT', stop);
            process.off('SIGTERM', stop);
            await http.close();
          }
        } finally {
          channels.forEach((c) => c.close());
          await vault.close();
        }
      }),
    );
}

function render(ctx: CliContext, result: CycleResult): void {
  const nodes = result.sample.nodes.map((n) => ({
    address: n.address,
    up: n.up,
    sealed: n.sealed ?? null,
    active: n.active,
    error: n.error ?? null,
  }));
  const alerts = (result.active ?? []).map(toAlertJson);
  if (ctx.json) {
    ctx.out.json({
      checked_at: result.sample.at.toISOString(),
      leader: result.sample.leader ?? null,
      nodes,
      alerts,
      store_error: result.storeError ?? null,
    });
    return;
  }
  ctx.out.table(nodes, ['address', 'up', 'sealed', 'active', 'error']);
  ctx.out.line(`leader: ${result.sample.leader ?? 'none'}`);
  if (alerts.length === 0) ctx.out.line('no alerts');
  else ctx.out.table(alerts, ['fingerprint', 'rule', 'severity', 'state', 'summary', 'runbook']);
  if (result.storeError)
    ctx.out.error(`sealwatch: the store could not be used, alert state was not kept: ${result.storeError}`);
}
