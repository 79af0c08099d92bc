import { SealwatchError, type SealwatchErrorOptions } from '../errors.js';

/**
 * Errors of the Vault/OpenBao boundary. Each names the node, the method and the path; none carries
 * the token or a request body. `status` is the HTTP status when the server answered.
 */
export interface VaultErrorContext {
  node: string;
  method: string;
  path: string;
  status?: number;
  /** The server's own error strings, already scrubbed of the client's token. */
  serverErrors?: string[];
}

export class VaultError extends SealwatchError {
  readonly node: string;
  readonly method: string;
  readonly path: string;
  readonly status: number | undefined;
  readonly serverErrors: readonly string[];

  constructor(
    code: string,
    summary: string,
    context: VaultErrorContext,
    options: SealwatchErrorOptions = {},
  ) {
    const said = context.serverErrors?.length ? `: ${context.serverErrors.join('; ')}` : '';
    super(
      code,
      `${summary} — ${context.node} ${context.method} ${context.path}${statusText(context.status)}${said}`,
      {
        ...options,
        details: { node: context.node, method: context.method, path: context.path, status: context.status },
      },
    );
    this.node = context.node;
    this.method = context.method;
    this.path = context.path;
    this.status = context.status;
    this.serverErrors = context.serverErrors ?? [];
  }
}

const statusText = (status: number | undefined) => (status === undefined ? '' : ` (HTTP ${status})`);

export class SealedError extends VaultError {
  constructor(context: VaultErrorContext, options: SealwatchErrorOptions = {}) {
    super('vault_sealed', 'Vault is sealed', context, { retryable: false, ...options });
  }
}

export class UninitializedError extends VaultError {
  constructor(context: VaultErrorContext, options: SealwatchErrorOptions = {}) {
    super('vault_uninitialized', 'Vault is not initialised', context, options);
  }
}

export class PermissionDeniedError extends VaultError {
  constructor(context: VaultErrorContext, options: SealwatchErrorOptions = {}) {
    super(
      'permission_denied',
      'permission denied (token invalid, expired or not allowed here)',
      context,
      options,
    );
  }
}

export class NotFoundError extends VaultError {
  constructor(context: VaultErrorContext, options: SealwatchErrorOptions = {}) {
    super('not_found', 'not found', context, options);
  }
}

export class BadRequestError extends VaultError {
  constructor(context: VaultErrorContext, options: SealwatchErrorOptions = {}) {
    super('bad_request', 'request rejected', context, options);
  }
}

export class UnsupportedOperationError extends VaultError {
  constructor(context: VaultErrorContext, options: SealwatchErrorOptions = {}) {
    super('unsupported_operation', 'operation not supported by this server', context, options);
  }
}

export class RateLimitedError extends VaultError {
  constructor(context: VaultErrorContext, options: SealwatchErrorOptions = {}) {
    super('rate_limited', 'rate limited', context, { retryable: true, ...options });
  }
}

/** A 5xx other than "sealed", or a standby that cannot serve the request. */
export class VaultServerError extends VaultError {
  constructor(context: VaultErrorContext, options: SealwatchErrorOptions = {}) {
    super('server_error', 'server error', context, { retryable: true, ...options });
  }
}

/**
 * The node is unsealed but no active node is known (an election is under way, or the node has just
 * been unsealed): it executed nothing, so the request may be sent again, even a write.
 */
export class NoActiveNodeError extends VaultError {
  constructor(context: VaultErrorContext, options: SealwatchErrorOptions = {}) {
    super('no_active_node', 'no active node (leader election under way?)', context, {
      retryable: true,
      ...options,
    });
  }
}

/** No answer at all: refused, reset, DNS, TLS, or the per-request timeout. */
export class UnreachableError extends VaultError {
  constructor(context: VaultErrorContext & { reason: string }, options: SealwatchErrorOptions = {}) {
    super('vault_unreachable', `unreachable (${context.reason})`, context, { retryable: true, ...options });
  }
}

export class VaultTimeoutError extends VaultError {
  constructor(context: VaultErrorContext & { timeoutMs: number }, options: SealwatchErrorOptions = {}) {
    super('vault_timeout', `no answer within ${context.timeoutMs} ms`, context, {
      retryable: true,
      ...options,
    });
  }
}

/** The answer was not what the API documents (not JSON, missing fields). */
export class BadResponseError extends VaultError {
  constructor(context: VaultErrorContext & { reason: string }, options: SealwatchErrorOptions = {}) {
    super('bad_response', `unexpected answer (${context.reason})`, context, options);
  }
}

/** Every node failed; the message lists what each one said. */
export class NoUsableNodeError extends SealwatchError {
  readonly failures: readonly VaultError[];
  constructor(method: string, path: string, failures: VaultError[]) {
    const each = failures.map((f) => `${f.node}: ${shortReason(f)}`).join('; ');
    super('no_usable_node', `no node could serve ${method} ${path} — ${each}`, {
      retryable: failures.some((f) => f.retryable),
      details: { method, path, nodes: failures.map((f) => f.node) },
    });
    this.failures = failures;
  }
}

function shortReason(error: VaultError): string {
  return error.message.split(' — ')[0] ?? error.code;
}
