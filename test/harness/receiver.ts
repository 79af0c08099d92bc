import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';

export interface ReceivedRequest {
  path: string;
  headers: IncomingHttpHeaders;
  body: string;
  json<T = unknown>(): T;
}

/**
 * A real HTTP receiver on 127.0.0.1 for notification tests: keeps every POST; `mode` makes it
 * answer 200, 500, or never answer (a receiver that hangs).
 */
export async function startReceiver(mode: 'ok' | 'fail' | 'hang' = 'ok') {
  const received: ReceivedRequest[] = [];
  let current = mode;
  const server: Server = createServer((req, res) => {
    let body = '';
    req.setEncoding('utf8');
    req.on('data', (chunk: string) => (body += chunk));
    req.on('end', () => {
      received.push({
        path: req.url ?? '/',
        headers: req.headers,
        body,
        json: <T>() => JSON.parse(body) as T,
      });
      if (current === 'hang') return;
      res.writeHead(current === 'ok' ? 202 : 500, { 'content-type': 'application/json' }).end('{}');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as { port: number }).port;
  return {
    url: `http://127.0.0.1:${port}`,
    received: () => [...received],
    setMode: (next: 'ok' | 'fail' | 'hang') => void (current = next),
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
