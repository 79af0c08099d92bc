import { createServer, isIP, type Server, type Socket } from 'node:net';
import { UsageError, errorMessage } from '../errors.js';
import { AuditSink, type AuditPipelineDeps, type AuditSinkOptions, type IngestCounts } from './audit-sink.js';
import { readLines } from './line-reader.js';

export interface ListenOptions extends AuditSinkOptions {
  /** host:port, e.g. 127.0.0.1:9090 or [::1]:9090. */
  bind: string;
  /** Audit entries carry who read what: listening beyond loopback must be asked for. */
  allowRemote?: boolean;
  /** Events reach the store at least this often even when batches are not full. */
  flushMs?: number;
  /** Stop after this long (tests). */
  maxSeconds?: number;
  signal?: AbortSignal;
  /** Called once listening, with the actual address (port 0 picks a free one). */
  onListening?: (address: { host: string; port: number }) => void;
  onNotice?: (message: string) => void;
}

export interface ListenResult {
  counts: IngestCounts;
  connections: number;
}

export function parseBind(bind: string, allowRemote: boolean): { host: string; port: number } {
  const match = /^(?:\[([^\]]+)\]|([^:]+)):(\d{1,5})$/.exec(bind.trim());
  const host = match?.[1] ?? match?.[2];
  const port = Number(match?.[3]);
  if (!match || !host || !Number.isInteger(port) || port > 65535)
    throw new UsageError(`--bind "${bind}" is not host:port (for example 127.0.0.1:9090)`);
  if (!allowRemote && !isLoopback(host))
    throw new UsageError(
      `--bind ${bind} is not a loopback address: audit events would be accepted from the network; ` +
        `add --allow-remote if that is intended (and firewall it)`,
    );
  return { host, port };
}

function isLoopback(host: string): boolean {
  if (host === 'localhost') return true;
  if (isIP(host) === 4) return host.startsWith('127.');
  return host === '::1';
}

/**
 * Receives a socket audit device (TCP, newline-delimited JSON) and stores its events through the
 * same parse-and-insert path as file ingestion; a file device of the same server writes the same
 * request ids, so the two store each event once. Runs until the signal or maxSeconds.
 */
export async function listenForAuditEvents(
  options: ListenOptions,
  deps: AuditPipelineDeps,
): Promise<ListenResult> {
  const { host, port } = parseBind(options.bind, options.allowRemote ?? false);
  const notice = options.onNotice ?? (() => undefined);
  const sink = new AuditSink(deps, options);
  const sockets = new Set<Socket>();
  const readers = new Set<Promise<void>>();
  let connections = 0;
  // Flushes one at a time: the store is written by one batch per transaction.
  let flushing: Promise<unknown> = Promise.resolve();
  const flush = () => {
    flushing = flushing
      .then(() => sink.flush())
      .catch((error: unknown) => {
        deps.logger.error({ err: error }, 'storing audit events failed');
        notice(`storing audit events failed: ${errorMessage(error)}`);
      });
    return flushing;
  };

  const server: Server = createServer((socket) => {
    connections++;
    sockets.add(socket);
    const peer = `socket:${socket.remoteAddress ?? 'unknown'}`;
    deps.logger.info({ peer }, 'audit device connected');
    const reader = (async () => {
      try {
        for await (const lines of readLines(socket, { flushPartial: true }))
          if (sink.add(lines, peer)) await flush();
      } catch (error) {
        deps.logger.warn({ peer, err: error }, 'audit connection failed');
      } finally {
        sockets.delete(socket);
      }
    })();
    readers.add(reader);
    void reader.finally(() => readers.delete(reader));
  });

  await new Promise<void>((resolveListen, reject) => {
    server.once('error', (error: NodeJS.ErrnoException) =>
      reject(
        new UsageError(`cannot listen on ${options.bind}: ${error.code ?? error.message}`, { cause: error }),
      ),
    );
    server.listen(port, host, () => resolveListen());
  });
  const address = server.address();
  const actual = typeof address === 'object' && address ? { host, port: address.port } : { host, port };
  options.onListening?.(actual);

  const timer = setInterval(() => void flush(), options.flushMs ?? 200);
  try {
    await new Promise<void>((resolveStop) => {
      if (options.signal?.aborted) return resolveStop();
      options.signal?.addEventListener('abort', () => resolveStop(), { once: true });
      if (options.maxSeconds !== undefined) setTimeout(resolveStop, options.maxSeconds * 1000).unref();
    });
  } finally {
    clearInterval(timer);
    await new Promise<void>((resolveClose) => {
      server.close(() => resolveClose());
      // Lines already received are kept: end the connections, then read what they delivered.
      for (const socket of sockets) socket.end();
      setTimeout(() => sockets.forEach((s) => s.destroy()), 2_000).unref();
    });
    await Promise.allSettled([...readers]);
    await flush();
  }
  return { counts: sink.counts, connections };
}
