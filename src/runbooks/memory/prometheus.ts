/**
 * The samples of a Prometheus text exposition (`sys/metrics?format=prometheus`), by metric name:
 * each with its labels. Comments, blank lines and values that are not numbers are skipped; the
 * prometheus sink of OpenBao keeps the last value of every gauge, unlike the JSON (inmem) sink,
 * whose gauges are missing for the first seconds of each 10 s interval.
 */
export interface PrometheusSample {
  labels: Record<string, string>;
  value: number;
}

const SAMPLE = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)(?:\s+\d+)?$/;
const LABEL = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g;

export function parsePrometheus(text: string): Map<string, PrometheusSample[]> {
  const samples = new Map<string, PrometheusSample[]>();
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) continue;
    const match = SAMPLE.exec(line);
    if (!match) continue;
    const value = Number(match[3]);
    if (Number.isNaN(value)) continue;
    const labels: Record<string, string> = {};
    for (const [, key, v] of (match[2] ?? '').matchAll(LABEL)) labels[key!] = v!.replace(/\\(.)/g, '$1');
    const list = samples.get(match[1]!) ?? [];
    list.push({ labels, value });
    samples.set(match[1]!, list);
  }
  return samples;
}

/** The value of an unlabelled gauge (or the sum over its label sets), undefined when absent. */
export function gauge(samples: Map<string, PrometheusSample[]>, name: string): number | undefined {
  const list = samples.get(name);
  if (!list || list.length === 0) return undefined;
  return list.reduce((sum, s) => sum + s.value, 0);
}
