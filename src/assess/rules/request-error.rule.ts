import { findingOf, isLoginPath, isPermissionDenied, type SuspicionRule } from '../rule.js';

/**
 * Any other failed call. Low: applications fail now and then for dull reasons, so this is reported
 * for the timeline but implicates nobody by itself.
 */
export const requestErrorRule = {
  id: 'request-error',
  severity: 'low',
  explanation: 'a call failed',
  async detect({ data }) {
    const failed = await data.failedResponses();
    return {
      findings: failed
        .filter((e) => !isPermissionDenied(e.error) && !isLoginPath(e.path))
        .map((e) => findingOf(e, firstLine(e.error))),
    };
  },
} as const satisfies SuspicionRule<'request-error'>;

/** OpenBao wraps errors as "1 error occurred:\n\t* <reason>"; the reason is the useful part. */
function firstLine(error: string | null): string | undefined {
  if (!error) return undefined;
  const reason = /\*\s*(.+)/.exec(error)?.[1] ?? error.split('\n')[0];
  return reason?.trim().slice(0, 200);
}
