/**
 * A value from the journal or a report as text for people: objects and arrays as JSON (never
 * "[object Object]"), nothing (null, undefined) as the fallback.
 */
export function displayText(value: unknown, fallback = ''): string {
  if (value === undefined || value === null) return fallback;
  if (typeof value === 'string') return value;
  if (typeof value === 'number' || typeof value === 'boolean' || typeof value === 'bigint')
    return String(value);
  return JSON.stringify(value) ?? fallback;
}
