import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { z } from 'zod';
import { freePort } from '../../src/util/ports.js';
import { startDaemon } from './daemon.js';

export interface ScrapeJob {
  readonly job: string;
  /** host:port */
  readonly target: string;
  /** More host:port targets of the same job (a cluster's nodes). */
  readonly moreTargets?: readonly string[];
  readonly metricsPath: string;
  readonly params?: Readonly<Record<string, readonly string[]>>;
}

export interface TestPrometheus {
  readonly url: string;
  /** Alerts as /api/v1/alerts answers them. */
  alerts(): Promise<PrometheusAlert[]>;
  /** An instant query's result vector. */
  query(expr: string): Promise<{ metric: Record<string, string>; value: [number, string] }[]>;
  log(): string;
  stop(): Promise<void>;
}

const alertSchema = z.object({
  labels: z.record(z.string(), z.string()),
  annotations: z.record(z.string(), z.string()),
  state: z.enum(['pending', 'firing', 'inactive']),
});
export type PrometheusAlert = z.infer<typeof alertSchema>;

const alertsAnswer = z.object({
  status: z.literal('success'),
  data: z.object({ alerts: z.array(alertSchema) }),
});
const queryAnswer = z.object({
  status: z.literal('success'),
  data: z.object({
    result: z.array(
      z.object({ metric: z.record(z.string(), z.string()), value: z.tuple([z.number(), z.string()]) }),
    ),
  }),
});

/**
 * A real Prometheus (Debian's /usr/bin/prometheus) on 127.0.0.1 with a free port and a temp data
 * dir: the jobs scraped and the rules evaluated every second. stop() ends it and removes the dir.
 */
export async function startPrometheus(options: {
  jobs: readonly ScrapeJob[];
  rules: string;
  intervalSeconds?: number;
}): Promise<TestPrometheus> {
  const dir = mkdtempSync(join(tmpdir(), 'sealwatch-prometheus-'));
  const port = await freePort();
  const interval = `${options.intervalSeconds ?? 1}s`;
  writeFileSync(join(dir, 'rules.yml'), options.rules);
  writeFileSync(
    join(dir, 'prometheus.yml'),
    stringify({
      global: { scrape_interval: interval, evaluation_interval: interval, scrape_timeout: interval },
      rule_files: [join(dir, 'rules.yml')],
      scrape_configs: options.jobs.map((job) => ({
        job_name: job.job,
        metrics_path: job.metricsPath,
        ...(job.params ? { params: job.params } : {}),
        static_configs: [{ targets: [job.target, ...(job.moreTargets ?? [])] }],
      })),
    }),
  );
  const url = `http://127.0.0.1:${port}`;
  const daemon = await startDaemon(
    'prometheus',
    '/usr/bin/prometheus',
    [
      `--config.file=${join(dir, 'prometheus.yml')}`,
      `--storage.tsdb.path=${join(dir, 'data')}`,
      `--web.listen-address=127.0.0.1:${port}`,
    ],
    { dir, ready: (log) => log.includes('Server is ready to receive web requests'), timeoutMs: 30_000 },
  );
  const get = async (path: string): Promise<unknown> => {
    const response = await fetch(url + path);
    if (!response.ok)
      throw new Error(`prometheus ${path}: HTTP ${response.status}: ${await response.text()}`);
    return response.json();
  };
  return {
    url,
    alerts: async () => alertsAnswer.parse(await get('/api/v1/alerts')).data.alerts,
    query: async (expr) =>
      queryAnswer.parse(await get(`/api/v1/query?query=${encodeURIComponent(expr)}`)).data.result,
    log: () => daemon.log(),
    stop: () => daemon.stop(),
  };
}
