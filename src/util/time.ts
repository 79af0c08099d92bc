const UTC_TIME = /^(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2})(?:\.(\d{1,9}))?Z$/;

/**
 * ISO-8601 UTC with exactly nine fraction digits. Audit devices write nanoseconds with trailing
 * zeros dropped, and only a fixed width sorts and compares correctly as text in either database.
 * Undefined when the value is not an ISO-8601 date-time.
 */
export function toSortableUtc(value: string): string | undefined {
  const utc = UTC_TIME.exec(value);
  if (utc) return `${utc[1]}.${(utc[2] ?? '').padEnd(9, '0')}Z`;
  const ms = Date.parse(value);
  if (Number.isNaN(ms) || !/^\d{4}-\d{2}-\d{2}T/.test(value)) return undefined;
  return new Date(ms).toISOString().replace(/Z$/, '000000Z');
}
