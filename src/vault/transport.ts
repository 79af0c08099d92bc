import { readFileSync } from 'node:fs';
import type { Readable } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Dispatcher } from 'undici';
import type { Logger } from '../logging/logger.js';
import { redactor, registerSecret } from '../logging/redactor.js';
import {
  BadRequestError,
  BadResponseError,
  NoUsableNodeError,
  NoActiveNodeError,
  NotFoundError,
  PermissionDeniedError,
  RateLimitedError,
  SealedError,
  UnreachableError,
  UninitializedError,
  UnsupportedOperationError,
  VaultError,
  VaultServerError,
  VaultTimeoutError,
  type VaultErrorContext,
} from './errors.js';
import { errorMessage } from '../errors.js';

export type HttpMethod = 'GET' | 'PUT' | 'POST' | 'DELETE' | 'LIST' | 'PATCH';

export interface TransportOptions {
  addresses: readonly string[];
  token?: string | undefined;
  namespace?: string | undefined;
  timeoutMs: number;
  /** Extra attempts for idempotent requests after a 5xx, a 429 or a network error. */
  retries: number;
  /** Connections per node at most; requests beyond it wait for a free one. */
  maxConnections: number;
  caFile?: string | undefined;
  insecureSkipVerify?: boolean;
  logger: Logger;
  /** Base of the exponential backoff between retry rounds. */
  backoffMs?: number;
}

export interface VaultRequest {
  method: HttpMethod;
  /** API path without `/v1/`, e.g. `sys/health` or `secret/data/x`. */
  path: string;
  body?: unknown;
  /** Raw request body (a snapshot upload); sent as application/octet-stream. */
  rawBody?: Readable | Buffer;
  query?: Record<string, string | number | boolean | undefined>;
  /** Safe to repeat. Defaults to true for GET and LIST, false otherwise. */
  idempotent?: boolean;
  /** Talk to exactly this node (no failover): health, unseal, status of one node. */
  node?: string;
  /** Use this token instead of the client's; null sends none. */
  token?: string | null;
  /** Statuses that are answers, not errors (sys/health answers 429/472/473/501/503 with a body). */
  acceptStatus?: readonly number[];
  responseType?: 'json' | 'text' | 'stream';
  timeoutMs?: number;
}

export interface VaultResponse<T> {
  status: number;
  node: string;
  body: T;
}

const NOT_SENT_CODES = new Set(['ECONNREFUSED', 'ENOTFOUND', 'EHOSTUNREACH', 'ENETUNREACH', 'EAI_AGAIN']);

/** undici's codes for a response that did not come in time (its HeadersTimeoutError, BodyTimeoutError). */
const UNDICI_TIMEOUT_CODES = new Set(['UND_ERR_HEADERS_TIMEOUT', 'UND_ERR_BODY_TIMEOUT']);

/**
 * undici, loaded with the first request: a tenth of a second of start-up that commands which never
 * call Vault (assess, audit, incident show) do not pay, as every command's context can make a client.
 */
let undici: Promise<typeof import('undici')> | undefined;

/**
 * The HTTP layer: one keep-alive agent with a connection limit per node, failover across nodes,
 * retries with backoff for idempotent calls, and errors mapped to typed classes.
 */
export class VaultTransport {
  readonly addresses: readonly string[];
  private preferred = 0;
  /** Set once sys/leader has said which configured node is active; cleared when a node fails. */
  private activeDiscovery: Promise<void> | undefined;
  private agent: Promise<{ agent: Dispatcher; request: (typeof import('undici'))['request'] }> | undefined;
  private readonly connect: { ca?: Buffer; rejectUnauthorized: boolean };
  private token: string | undefined;
  private readonly logger: Logger;
  private sent = 0;

  constructor(private readonly options: TransportOptions) {
    if (options.addresses.length === 0) throw new Error('at least one Vault address is required');
    this.addresses = options.addresses.map((a) => a.replace(/\/+$/, ''));
    this.token = options.token;
    registerSecret(options.token);
    this.logger = options.logger;
    // Read now: a CA file that cannot be read fails the command before anything is sent.
    this.connect = {
      ...(options.caFile ? { ca: readFileSync(options.caFile) } : {}),
      rejectUnauthorized: !options.insecureSkipVerify,
    };
  }

  /** The keep-alive agent, made with the first request. */
  private dispatcher() {
    this.agent ??= (undici ??= import('undici')).then(({ Agent, request }) => ({
      request,
      agent: new Agent({
        connections: this.options.maxConnections,
        keepAliveTimeout: 10_000,
        pipelining: 1,
        connect: this.connect,
      }),
    }));
    return this.agent;
  }

  /** Replaces the token (after a root-token rotation, a login). */
  setToken(token: string | undefined): void {
    registerSecret(token);
    this.token = token;
  }

  /**
   * Another transport to the same nodes with the same token, other limits: a diagnosis inside a
   * long-running playbook asks with a short timeout and no retries, like `runbook diagnose`.
   */
  derive(overrides: Partial<Pick<TransportOptions, 'timeoutMs' | 'retries'>>): VaultTransport {
    return new VaultTransport({
      ...this.options,
      token: this.token,
      timeoutMs: Math.min(this.options.timeoutMs, overrides.timeoutMs ?? Infinity),
      retries: Math.min(this.options.retries, overrides.retries ?? Infinity),
    });
  }

  get hasToken(): boolean {
    return this.token !== undefined;
  }

  /** HTTP requests sent so far, retries and failovers included (benchmarks report requests per secret). */
  get requestCount(): number {
    return this.sent;
  }

  /** The node that answered last; requests try it first. */
  get preferredNode(): string {
    return this.addresses[this.preferred] ?? this.addresses[0]!;
  }

  async close(): Promise<void> {
    if (this.agent) await (await this.agent).agent.close();
  }

  async send<T>(req: VaultRequest): Promise<VaultResponse<T>> {
    const idempotent = req.idempotent ?? (req.method === 'GET' || req.method === 'LIST');
    if (!req.node && this.addresses.length > 1) {
      this.activeDiscovery ??= this.discoverActive();
      await this.activeDiscovery;
    }
    const nodes = req.node ? [req.node.replace(/\/+$/, '')] : this.nodeOrder();
    // A write is repeated only after failures that prove it was not executed (see mayTryNextNode).
    const rounds = this.options.retries + 1;
    let failures: VaultError[] = [];
    for (let round = 0; round < rounds; round++) {
      failures = [];
      let waitHint = 0;
      for (const node of nodes) {
        try {
          const response = await this.sendOnce<T>(node, req);
          if (!req.node && node !== this.preferredNode) {
            // Failed over: remember the node that answered, and ask again who is active next time.
            this.remember(node);
            this.activeDiscovery = undefined;
          }
          return response;
        } catch (error) {
          if (!(error instanceof VaultError)) throw error;
          failures.push(error);
          if (!this.mayTryNextNode(error, idempotent)) throw error;
          if (error instanceof RateLimitedError) waitHint = Math.max(waitHint, retryAfterMs(error));
          this.logger.debug({ node, path: req.path, code: error.code }, 'vault request failed on node');
        }
      }
      const retryable = failures.some((f) => f.retryable);
      if (!retryable || round === rounds - 1) break;
      await sleep(Math.max(waitHint, backoff(round, this.options.backoffMs ?? 200)));
    }
    throw combineFailures(req.method, req.path, failures);
  }

  private nodeOrder(): string[] {
    const n = this.addresses.length;
    return Array.from({ length: n }, (_, i) => this.addresses[(this.preferred + i) % n]!);
  }

  /**
   * Sends unpinned requests to the active node. OpenBao's standbys answer reads from their own
   * (eventually consistent) copy, so a read right after a write could see old data on a standby.
   */
  private async discoverActive(): Promise<void> {
    for (const node of this.nodeOrder()) {
      try {
        const { body } = await this.sendOnce<{ is_self?: boolean; leader_address?: string }>(node, {
          method: 'GET',
          path: 'sys/leader',
          token: null,
        });
        if (body.is_self) return this.remember(node);
        const leader = body.leader_address?.replace(/\/+$/, '');
        if (leader && this.addresses.includes(leader)) return this.remember(leader);
      } catch (error) {
        this.logger.debug(
          { node, error: errorMessage(error) },
          'sys/leader failed during active-node discovery',
        );
      }
    }
  }

  /** Forget which node is active (after a step-down or a failover the caller caused). */
  forgetActive(): void {
    this.activeDiscovery = undefined;
  }

  private remember(node: string): void {
    const index = this.addresses.indexOf(node);
    if (index >= 0) this.preferred = index;
  }

  /**
   * Another node may take the request when this one never executed it (sealed, refused, standby)
   * or when the request is safe to repeat.
   */
  private mayTryNextNode(error: VaultError, idempotent: boolean): boolean {
    if (
      error instanceof SealedError ||
      error instanceof UninitializedError ||
      error instanceof NoActiveNodeError ||
      error instanceof RateLimitedError
    )
      return true;
    if (error instanceof UnreachableError && error.details['notSent'] === true) return true;
    return idempotent && error.retryable;
  }

  private async sendOnce<T>(node: string, req: VaultRequest, redirects = 0): Promise<VaultResponse<T>> {
    const method = req.method === 'LIST' ? 'GET' : req.method;
    const query = { ...(req.query ?? {}), ...(req.method === 'LIST' ? { list: 'true' } : {}) };
    const qs = Object.entries(query)
      .filter(([, v]) => v !== undefined)
      .map(([k, v]) => `${encodeURIComponent(k)}=${encodeURIComponent(String(v))}`)
      .join('&');
    const path = req.path.replace(/^\/+/, '');
    const url = `${node}/v1/${encodePath(path)}${qs ? `?${qs}` : ''}`;
    const context: VaultErrorContext = { node, method: req.method, path };
    const headers: Record<string, string> = { 'x-vault-request': 'true' };
    const token = req.token === null ? undefined : (req.token ?? this.token);
    if (token) {
      registerSecret(token);
      headers['x-vault-token'] = token;
    }
    if (this.options.namespace) headers['x-vault-namespace'] = this.options.namespace;
    let body: string | Buffer | Readable | undefined;
    if (req.rawBody !== undefined) {
      body = req.rawBody;
      headers['content-type'] = 'application/octet-stream';
    } else if (req.body !== undefined) {
      // Secrets the process sends (an unseal share, a login password) are secrets it now knows.
      redactor.learn(req.body);
      body = JSON.stringify(req.body);
      headers['content-type'] = 'application/json';
    }
    const timeoutMs = req.timeoutMs ?? this.options.timeoutMs;

    let response: Dispatcher.ResponseData;
    const { agent, request } = await this.dispatcher();
    this.sent++;
    try {
      response = await request(url, {
        method,
        headers,
        body,
        dispatcher: agent,
        signal: AbortSignal.timeout(timeoutMs),
        headersTimeout: timeoutMs,
        bodyTimeout: req.responseType === 'stream' ? 0 : timeoutMs,
      });
    } catch (error) {
      throw this.networkError(error, context, timeoutMs, token);
    }

    const { statusCode } = response;
    if (statusCode === 307 && redirects < 2) {
      // A standby that does not forward points at the active node.
      const location = response.headers['location'];
      await response.body.dump();
      if (typeof location === 'string') {
        const active = new URL(location).origin;
        this.logger.debug({ from: node, to: active, path }, 'following standby redirect');
        return this.sendOnce<T>(active, req, redirects + 1);
      }
    }
    const accepted = req.acceptStatus?.includes(statusCode) ?? false;
    if (statusCode >= 400 && !accepted) {
      const text = await safeText(response, timeoutMs);
      const mapped = mapStatus(
        statusCode,
        { ...context, status: statusCode, serverErrors: serverErrors(text, token) },
        response,
      );
      // An uninitialised server also answers "Vault is sealed"; its seal status tells the two apart.
      if (mapped instanceof SealedError && path !== 'sys/seal-status' && (await this.isUninitialised(node)))
        throw new UninitializedError({ ...context, status: statusCode });
      throw mapped;
    }
    if (req.responseType === 'stream')
      return { status: statusCode, node, body: response.body as unknown as T };
    const text = await safeText(response, timeoutMs);
    if (req.responseType === 'text') return { status: statusCode, node, body: text as T };
    if (text === '') return { status: statusCode, node, body: undefined as T };
    let parsed: T;
    try {
      parsed = JSON.parse(text) as T;
    } catch {
      throw new BadResponseError({ ...context, status: statusCode, reason: 'body is not JSON' });
    }
    // Tokens, shares, secret IDs and secret values Vault hands out are registered before anyone can log them.
    redactor.learn(parsed);
    return { status: statusCode, node, body: parsed };
  }

  private async isUninitialised(node: string): Promise<boolean> {
    try {
      const { body } = await this.sendOnce<{ initialized?: boolean }>(node, {
        method: 'GET',
        path: 'sys/seal-status',
        token: null,
      });
      return body.initialized === false;
    } catch {
      // Only refines an error already being reported: unknown means not known to be uninitialised.
      return false;
    }
  }

  private networkError(
    error: unknown,
    context: VaultErrorContext,
    timeoutMs: number,
    token?: string,
  ): VaultError {
    const err = error as NodeJS.ErrnoException & { cause?: NodeJS.ErrnoException };
    const code = err.code ?? err.cause?.code;
    if (
      err.name === 'TimeoutError' ||
      err.name === 'AbortError' ||
      (code !== undefined && UNDICI_TIMEOUT_CODES.has(code))
    )
      return new VaultTimeoutError({ ...context, timeoutMs });
    const reason = scrub(code ?? err.message ?? 'network error', token);
    return new UnreachableError(
      { ...context, reason: describeNetworkCode(reason) },
      { details: { notSent: code !== undefined && NOT_SENT_CODES.has(code) } },
    );
  }
}

function describeNetworkCode(code: string): string {
  switch (code) {
    case 'ECONNREFUSED':
      return 'connection refused: is the server running and listening there?';
    case 'ENOTFOUND':
      return 'host name not found';
    case 'ECONNRESET':
      return 'connection reset';
    default:
      return code;
  }
}

function mapStatus(
  status: number,
  context: VaultErrorContext,
  response: Dispatcher.ResponseData,
): VaultError {
  const said = (context.serverErrors ?? []).join(' ').toLowerCase();
  switch (status) {
    case 400:
      return new BadRequestError(context);
    case 401:
    case 403:
      return new PermissionDeniedError(context);
    case 404:
      return new NotFoundError(context);
    case 405:
      return new UnsupportedOperationError(context);
    case 429:
      return new RateLimitedError(context, { details: { retryAfter: response.headers['retry-after'] } });
    case 501:
      return new UninitializedError(context);
    case 503:
      if (said.includes('sealed')) return new SealedError(context);
      return new VaultServerError(context);
    default:
      if (status >= 500 && /active cluster node not found|node not active/.test(said))
        return new NoActiveNodeError(context);
      if (status >= 500) return new VaultServerError(context);
      return new BadRequestError(context);
  }
}

function combineFailures(method: string, path: string, failures: VaultError[]): Error {
  if (failures.length === 1) return failures[0]!;
  const first = failures[0];
  if (first && failures.every((f) => f.code === first.code)) {
    const nodes = failures.map((f) => f.node).join(', ');
    if (first instanceof SealedError) return new SealedError({ node: nodes, method, path, status: 503 });
  }
  return new NoUsableNodeError(method, path, failures);
}

function retryAfterMs(error: VaultError): number {
  const value = Number(error.details['retryAfter']);
  return Number.isFinite(value) && value > 0 ? Math.min(value * 1000, 30_000) : 0;
}

function backoff(round: number, baseMs: number): number {
  const exp = Math.min(baseMs * 2 ** round, 5_000);
  return exp / 2 + Math.random() * (exp / 2);
}

async function safeText(response: Dispatcher.ResponseData, _timeoutMs: number): Promise<string> {
  try {
    return await response.body.text();
  } catch {
    // The body only adds the server's words to an error reported with its status.
    return '';
  }
}

function serverErrors(text: string, token?: string): string[] {
  if (!text) return [];
  try {
    const parsed = JSON.parse(text) as { errors?: unknown };
    if (Array.isArray(parsed.errors))
      return parsed.errors.map((e) => scrub(String(e).replace(/\s+/g, ' ').trim(), token)).filter(Boolean);
    return [];
  } catch {
    // Not JSON: the raw start of the body is the server's message.
    return [scrub(text.slice(0, 200).replace(/\s+/g, ' ').trim(), token)];
  }
}

function scrub(text: string, token?: string): string {
  return redactor.text(token ? text.split(token).join('[token]') : text);
}

/** Encodes each path segment but keeps the slashes. */
function encodePath(path: string): string {
  return path
    .split('/')
    .map((segment) => encodeURIComponent(segment))
    .join('/');
}
