import { errorMessage } from '../../errors.js';
import { redactText } from '../../logging/redactor.js';
import type { DeliveryResult } from './channel.js';

/**
 * POSTs JSON with a deadline. `where` names the destination in errors without its secret parts
 * (Slack webhook URLs carry their token in the path).
 */
export async function postJson(
  url: string,
  body: unknown,
  options: { timeoutMs: number; where: string; headers?: Record<string, string> },
): Promise<DeliveryResult> {
  try {
    const res = await fetch(url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'user-agent': 'sealwatch', ...options.headers },
      body: redactText(JSON.stringify(body)),
      signal: AbortSignal.timeout(options.timeoutMs),
      redirect: 'error',
    });
    // Drained only to free the connection; the status decides.
    await res.arrayBuffer().catch(() => undefined);
    if (res.ok) return { ok: true };
    return {
      ok: false,
      error: `${options.where} answered HTTP ${res.status}`,
      retryable: res.status >= 500 || res.status === 408 || res.status === 429,
    };
  } catch (error) {
    const name = error instanceof Error ? error.name : '';
    if (name === 'TimeoutError' || name === 'AbortError')
      return {
        ok: false,
        error: `${options.where} timed out after ${options.timeoutMs} ms`,
        retryable: true,
      };
    const cause = error instanceof Error && error.cause instanceof Error ? error.cause.message : undefined;
    return {
      ok: false,
      error: `${options.where} unreachable: ${redactText(cause ?? errorMessage(error))}`,
      retryable: true,
    };
  }
}

/** scheme://host only: enough to say where, nothing that may be a secret. */
export function hostOf(url: string): string {
  try {
    const u = new URL(url);
    return `${u.protocol}//${u.host}`;
  } catch {
    // Only names the destination in a message; the URL was validated with the configuration.
    return '(invalid URL)';
  }
}
