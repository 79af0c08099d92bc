import { createServer, isIP, type Server, type Socket } from 'node:net';
import { UsageError, errorMessage } from '../errors.js';
import {
  AuditSink,
  DEFAULT_BATCH_SIZE,
  DEFAULT_MAX_ERRORS,
  type AuditPipelineDeps,
  type AuditSinkOptions,
  type IngestCounts,
} from './audit-sink.js';
import { readLines } from './line-reader.js';
import { StoreThread } from './store-thread.js';

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
  const stored = (error: unknown) => {
    deps.logger.error({ err: error }, 'storing audit events failed');
    notice(`storing audit events failed: ${errorMessage(error)}`);
  };
  const thread = storeThreadFor(options, deps, stored);
  const sockets = new Set<Socket>();
  const readers = new Set<Promise<void>>();
  let connections = 0;
  // Flushes one at a time: the store is written by one batch per transaction. With a store
  // thread, the worker flushes on its own timer; the final flush waits for what it holds.
  let flushing: Promise<unknown> = Promise.resolve();
  const flush = () => {
    flushing = flushing
      .then(async () => {
        if (thread) await thread.flush();
        else await sink.flush();
      })
      .catch(stored);
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
          if (thread) await thread.add(lines, peer);
          else if (sink.add(lines, peer)) await flush();
      } catch (error) {
        deps.logger.warn({ peer, err: error }, 'audit connection failed');
      } finally {
        sockets.delete(socket);
      }
    })();
    readers.add(reader);
    void reader.finally(() => readers.delete(reader));
  });

  try {
    // The worker opens its store while the socket starts listening: lines that arrive meanwhile wait.
    const listening = new Promise<void>((resolveListen, reject) => {
      server.once('error', (error: NodeJS.ErrnoException) =>
        reject(
          new UsageError(`cannot listen on ${options.bind}: ${error.code ?? error.message}`, {
            cause: error,
          }),
        ),
      );
      server.listen(port, host, () => resolveListen());
    });
    await Promise.all([listening, thread?.start()]);
  } catch (error) {
    server.close();
    for (const socket of sockets) socket.destroy();
    await thread?.close();
    throw error;
  }
  const address = server.address();
  const actual = typeof address === 'object' && address ? { host, port: address.port } : { host, port };
  options.onListening?.(actual);

  const timer = thread ? undefined : setInterval(() => void flush(), options.flushMs ?? 200);
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
    await thread?.close().catch(stored);
  }
  return { counts: thread ? thread.counts : sink.counts, connections };
}

/**
 * A worker thread that parses and stores the socket's lines, for a SQLite store in a file (its
 * own connection sees the same database); PostgreSQL and in-memory stores are written in-thread.
 */
function storeThreadFor(
  options: ListenOptions,
  deps: AuditPipelineDeps,
  onStoreFailed: (error: unknown) => void,
): StoreThread | undefined {
  const { dialect, location } = deps.store;
  if (dialect !== 'sqlite' || !location || location === ':memory:' || location.startsWith('file:'))
    return undefined;
  const maxErrors = options.maxErrors ?? DEFAULT_MAX_ERRORS;
  return new StoreThread(
    {
      url: location,
      templates: deps.matcher.templates,
      batchSize: options.batchSize ?? DEFAULT_BATCH_SIZE,
      flushMs: options.flushMs ?? 200,
      maxErrors,
      wantRows: options.onStoredRows !== undefined,
    },
    {
      onStored: options.onStored,
      onStoredRows: options.onStoredRows,
      onStoreFailed: (message) => onStoreFailed(new Error(message)),
      onMalformed: (file, line, reason) => deps.logger.debug({ file, line, reason }, 'malformed audit line'),
    },
    maxErrors,
  );
}
