import { openBaoMetric, SEALWATCH_METRICS, type OpenBaoMetric } from './metric-names.js';

export interface DashboardOptions {
  /** OpenBao's `telemetry.metrics_prefix` (default `vault`). */
  readonly metricsPrefix: string;
}

interface PanelSpec {
  readonly title: string;
  readonly type: 'stat' | 'timeseries';
  readonly description: string;
  readonly targets: readonly { readonly expr: string; readonly legendFormat: string }[];
  readonly unit?: string;
  /** stat panels: value → text (1 → "sealed"). */
  readonly mappings?: Readonly<Record<string, { readonly text: string; readonly color: string }>>;
}

const DATASOURCE = { type: 'prometheus', uid: '${datasource}' } as const;
const WIDTH = 12;
const HEIGHT = 8;

function panelSpecs(prefix: string): PanelSpec[] {
  const m = (metric: OpenBaoMetric) => openBaoMetric(prefix, metric);
  const s = SEALWATCH_METRICS;
  return [
    {
      title: 'Sealed, per node (sealwatch)',
      type: 'stat',
      description: 'From sys/health as sealwatch watch polls it: 1 sealed, 0 unsealed.',
      targets: [{ expr: `${s.nodeSealed}`, legendFormat: '{{node}}' }],
      mappings: { '0': { text: 'unsealed', color: 'green' }, '1': { text: 'sealed', color: 'red' } },
    },
    {
      title: 'Active node and reachability (sealwatch)',
      type: 'stat',
      description: '1 on the active node; a node sealwatch cannot reach shows 0 under "up".',
      targets: [
        { expr: `${s.nodeActive}`, legendFormat: 'active {{node}}' },
        { expr: `${s.nodeUp}`, legendFormat: 'up {{node}}' },
      ],
    },
    {
      title: 'sealwatch alerts by state',
      type: 'timeseries',
      description: 'Alerts pending and firing, by severity.',
      targets: [{ expr: `sum by (state, severity) (${s.alerts})`, legendFormat: '{{state}} {{severity}}' }],
    },
    {
      title: 'Detections by rule',
      type: 'timeseries',
      description: 'Detections per rule over 5 minutes (live audit stream).',
      targets: [{ expr: `sum by (rule) (increase(${s.detectionsTotal}[5m]))`, legendFormat: '{{rule}}' }],
    },
    {
      title: 'Audit events ingested',
      type: 'timeseries',
      description: 'Audit events stored per second.',
      unit: 'ops',
      targets: [{ expr: `rate(${s.auditEventsIngestedTotal}[1m])`, legendFormat: 'events/s' }],
    },
    {
      title: 'Audit ingest lag',
      type: 'timeseries',
      description: 'How far the newest ingested audit event is behind the server.',
      unit: 's',
      targets: [{ expr: `${s.auditIngestLagSeconds}`, legendFormat: 'lag' }],
    },
    {
      title: 'Notifier failures',
      type: 'timeseries',
      description: 'Deliveries that failed after their retries, per channel.',
      targets: [
        { expr: `sum by (channel) (increase(${s.notifierFailuresTotal}[5m]))`, legendFormat: '{{channel}}' },
      ],
    },
    {
      title: 'Health poll duration',
      type: 'timeseries',
      description: 'How long one poll of each node takes (a hanging node shows here first).',
      unit: 's',
      targets: [{ expr: `${s.pollDurationSeconds}`, legendFormat: '{{node}}' }],
    },
    {
      title: 'OpenBao seal state (telemetry)',
      type: 'stat',
      description: 'core.unsealed per scraped node (max over its series).',
      targets: [{ expr: `max by (instance) (${m('unsealed')})`, legendFormat: '{{instance}}' }],
      mappings: { '0': { text: 'sealed', color: 'red' }, '1': { text: 'unsealed', color: 'green' } },
    },
    {
      title: 'OpenBao request rate',
      type: 'timeseries',
      description: 'Requests handled per second (active node).',
      unit: 'reqps',
      targets: [{ expr: `rate(${m('handleRequest')}_count[1m])`, legendFormat: '{{instance}}' }],
    },
    {
      title: 'OpenBao request latency',
      type: 'timeseries',
      description: 'core.handle_request quantiles, in milliseconds.',
      unit: 'ms',
      targets: [
        { expr: `${m('handleRequest')}{quantile=~"0.5|0.99"}`, legendFormat: 'p{{quantile}} {{instance}}' },
      ],
    },
    {
      title: 'OpenBao leases',
      type: 'timeseries',
      description: 'Leases held by the expiration manager.',
      targets: [{ expr: `${m('expireNumLeases')}`, legendFormat: '{{instance}}' }],
    },
    {
      title: 'OpenBao tokens',
      type: 'timeseries',
      description: 'Live tokens (usage gauge, refreshed every usage_gauge_period) and tokens never expiring.',
      targets: [
        { expr: `sum(${m('tokenCount')})`, legendFormat: 'tokens' },
        { expr: `sum(${m('tokenCountByTtl')}{creation_ttl="+Inf"})`, legendFormat: 'never expire' },
      ],
    },
    {
      title: 'OpenBao audit failures',
      type: 'timeseries',
      description: 'Requests and responses an audit device failed to record.',
      targets: [
        { expr: `increase(${m('auditLogRequestFailure')}[5m])`, legendFormat: 'request {{instance}}' },
        { expr: `increase(${m('auditLogResponseFailure')}[5m])`, legendFormat: 'response {{instance}}' },
      ],
    },
    {
      title: 'OpenBao memory in use',
      type: 'timeseries',
      description:
        'Heap in use over the memory the process holds (runtime.alloc_bytes / sys_bytes); the memory runbook alerts above 0.8.',
      unit: 'percentunit',
      targets: [
        {
          expr: `${m('runtimeAllocBytes')} / ${m('runtimeSysBytes')}`,
          legendFormat: '{{instance}}',
        },
      ],
    },
    {
      title: 'Failed logins (sealwatch)',
      type: 'timeseries',
      description:
        "Failed logins in watch's current window (auth_failures_within) and the baseline's rate per window.",
      targets: [{ expr: `${s.failedLogins}`, legendFormat: '{{window}}' }],
    },
    {
      title: 'Newest verified snapshot age (sealwatch)',
      type: 'timeseries',
      description:
        'Age of the newest snapshot whose restore drill passed, against the schedule (watch.rules.snapshot_max_age).',
      unit: 's',
      targets: [
        { expr: `${s.snapshotAgeSeconds}`, legendFormat: 'age' },
        { expr: `${s.snapshotMaxAgeSeconds}`, legendFormat: 'schedule' },
      ],
    },
  ];
}

function panel(spec: PanelSpec, index: number) {
  const mappings = spec.mappings
    ? [
        {
          type: 'value',
          options: Object.fromEntries(
            Object.entries(spec.mappings).map(([value, m], i) => [value, { ...m, index: i }]),
          ),
        },
      ]
    : [];
  return {
    id: index + 1,
    title: spec.title,
    description: spec.description,
    type: spec.type,
    datasource: DATASOURCE,
    gridPos: { x: (index % 2) * WIDTH, y: Math.floor(index / 2) * HEIGHT, w: WIDTH, h: HEIGHT },
    fieldConfig: { defaults: { ...(spec.unit ? { unit: spec.unit } : {}), mappings }, overrides: [] },
    options: {},
    targets: spec.targets.map((t, i) => ({
      refId: String.fromCharCode(65 + i),
      datasource: DATASOURCE,
      expr: t.expr,
      legendFormat: t.legendFormat,
    })),
  };
}

/** A Grafana dashboard (JSON model) over sealwatch's and OpenBao's metrics, with a datasource variable. */
export function grafanaDashboard(options: DashboardOptions = { metricsPrefix: 'vault' }) {
  return {
    uid: 'sealwatch',
    title: 'sealwatch — OpenBao / Vault',
    tags: ['sealwatch', 'openbao', 'vault'],
    timezone: 'browser',
    schemaVersion: 39,
    version: 1,
    editable: true,
    refresh: '30s',
    time: { from: 'now-6h', to: 'now' },
    templating: {
      list: [
        {
          name: 'datasource',
          label: 'Prometheus',
          type: 'datasource',
          query: 'prometheus',
          current: {},
          hide: 0,
        },
      ],
    },
    annotations: { list: [] },
    panels: panelSpecs(options.metricsPrefix).map(panel),
  };
}
