import { createServer, type Server } from 'node:http';
import { parseBind } from '../audit/listen.js';
import { UsageError } from '../errors.js';
import type { WatchMetrics } from './metrics.js';

/** `/metrics` (Prometheus text) and `/healthz` (200 or 503 with JSON) on --listen. */
export async function startWatchHttp(
  listen: string,
  metrics: WatchMetrics,
  health: () => { ok: boolean } & Record<string, unknown>,
): Promise<{ port: number; close(): Promise<void> }> {
  // Metrics say which nodes are sealed: loopback unless the operator binds wider on purpose.
  const { host, port } = parseBind(listen, true);
  const server: Server = createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    if (req.method !== 'GET') {
      res.writeHead(405).end();
      return;
    }
    if (path === '/metrics') {
      void metrics.registry.metrics().then(
        (text) => res.writeHead(200, { 'content-type': metrics.registry.contentType }).end(text),
        () => res.writeHead(500).end('metrics unavailable\n'),
      );
      return;
    }
    if (path === '/healthz') {
      const body = health();
      res
        .writeHead(body.ok ? 200 : 503, { 'content-type': 'application/json' })
        .end(JSON.stringify(body) + '\n');
      return;
    }
    res.writeHead(404).end();
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', (error: NodeJS.ErrnoException) =>
      reject(new UsageError(`cannot listen on ${listen}: ${error.code ?? error.message}`, { cause: error })),
    );
    server.listen(port, host, () => resolve());
  });
  const address = server.address();
  return {
    port: typeof address === 'object' && address ? address.port : port,
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}
