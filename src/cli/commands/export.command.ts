import { writeFileSync } from 'node:fs';
import { Command, Option } from 'commander';
import { grafanaDashboard } from '../../export/grafana-dashboard.js';
import {
  renderPrometheusRules,
  RULE_FORMATS,
  ruleDocument,
  ruleOptions,
  type RuleFormat,
} from '../../export/prometheus-rules.js';
import type { CliContext } from '../context.js';
import { examples } from '../help.js';
import type { CommandRunner } from '../runner.js';

interface RulesFlags {
  format: RuleFormat;
  metricsPrefix: string;
  openbaoJob: string;
  sealwatchJob: string;
  output?: string;
}

interface DashboardFlags {
  metricsPrefix: string;
  output?: string;
}

/** To the file named by --output, else stdout. */
function emit(ctx: CliContext, text: string, output: string | undefined, what: string): void {
  if (output) {
    writeFileSync(output, text);
    ctx.progress(`${what} written to ${output}`);
  } else ctx.out.line(text.replace(/\n$/, ''));
}

export function exportCommand(run: CommandRunner): Command {
  const exporter = new Command('export').description(
    'monitoring to load elsewhere: Prometheus alert rules and a Grafana dashboard for OpenBao and sealwatch watch',
  );

  exporter
    .command('prometheus-rules')
    .description(
      "alert rules over OpenBao's telemetry (sealed, no active node, autopilot, raft, audit failures, tokens) and sealwatch watch's metrics, each naming the runbook that diagnoses it",
    )
    .addOption(
      new Option(
        '--format <format>',
        'rules: a Prometheus rule file; prometheusrule: a Kubernetes PrometheusRule (YAML; --json: JSON)',
      )
        .choices(RULE_FORMATS)
        .default('rules'),
    )
    .option('--metrics-prefix <prefix>', "OpenBao's telemetry metrics_prefix", 'vault')
    .option('--openbao-job <job>', "the Prometheus job that scrapes OpenBao's sys/metrics", 'openbao')
    .option('--sealwatch-job <job>', 'the Prometheus job that scrapes sealwatch watch', 'sealwatch')
    .option('--output <file>', 'write to this file instead of stdout')
    .addHelpText(
      'after',
      examples(
        'sealwatch export prometheus-rules --output /etc/prometheus/rules/sealwatch.yml',
        'sealwatch export prometheus-rules --format prometheusrule --metrics-prefix vault > sealwatch-rules.yaml',
      ),
    )
    .action(
      run((ctx: CliContext, flags: RulesFlags) => {
        const options = ruleOptions({
          metricsPrefix: flags.metricsPrefix,
          openbaoJob: flags.openbaoJob,
          sealwatchJob: flags.sealwatchJob,
        });
        // --json: the same document as JSON, which Prometheus reads too (YAML is a superset of JSON).
        const text = ctx.json
          ? JSON.stringify(ruleDocument(flags.format, options), null, 2) + '\n'
          : renderPrometheusRules(flags.format, options);
        emit(ctx, text, flags.output, 'rules');
        return Promise.resolve();
      }),
    );

  exporter
    .command('grafana-dashboard')
    .description(
      'a Grafana dashboard (JSON) with a Prometheus datasource variable: seal state and active node, alerts, detections, audit ingest, OpenBao requests, leases and tokens',
    )
    .option('--metrics-prefix <prefix>', "OpenBao's telemetry metrics_prefix", 'vault')
    .option('--output <file>', 'write to this file instead of stdout')
    .addHelpText('after', examples('sealwatch export grafana-dashboard --output sealwatch-dashboard.json'))
    .action(
      run((ctx: CliContext, flags: DashboardFlags) => {
        const { metricsPrefix } = ruleOptions({ metricsPrefix: flags.metricsPrefix });
        emit(
          ctx,
          JSON.stringify(grafanaDashboard({ metricsPrefix }), null, 2) + '\n',
          flags.output,
          'dashboard',
        );
        return Promise.resolve();
      }),
    );

  exporter.addHelpText(
    'after',
    examples(
      'sealwatch export prometheus-rules',
      'sealwatch export grafana-dashboard --output dashboard.json',
    ),
  );
  return exporter;
}
