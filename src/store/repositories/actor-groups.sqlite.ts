import type SQLite from 'better-sqlite3';
import type { AnalysisWindow } from './audit-analysis.repository.js';

/** What an accessor did from one address under one name in a window. */
export interface ActorGroup {
  accessor: string;
  remote_address: string | null;
  display_name: string | null;
  first: string;
  last: string;
}

type Triple = { r: string | null; d: string | null };

const FROM = 'FROM audit_events INDEXED BY audit_events_actor WHERE accessor = ?';
const NEXT = 'ORDER BY remote_address, display_name LIMIT 1';

/**
 * The (accessor, address, name) groups of the given accessors and the first and last time of each
 * in the window, found by seeking through audit_events_actor (accessor, remote_address,
 * display_name, time) instead of reading it: a busy day is a million entries for a few thousand
 * groups, and each group costs four seeks (the next group, its first and last time in the window).
 * Index order puts NULLs first; `IS` matches them and still seeks.
 */
export function actorGroupsSqlite(
  handle: SQLite.Database,
  window: AnalysisWindow,
  accessors: readonly string[],
): ActorGroup[] {
  const first = handle.prepare(`SELECT remote_address AS r, display_name AS d ${FROM} ${NEXT}`);
  const nextName = handle.prepare(
    `SELECT remote_address AS r, display_name AS d ${FROM} AND remote_address IS ? AND display_name > ? ${NEXT}`,
  );
  const firstName = handle.prepare(
    `SELECT remote_address AS r, display_name AS d ${FROM} AND remote_address IS ? AND display_name IS NOT NULL ${NEXT}`,
  );
  const nextAddress = handle.prepare(
    `SELECT remote_address AS r, display_name AS d ${FROM} AND remote_address > ? ${NEXT}`,
  );
  const firstAddress = handle.prepare(
    `SELECT remote_address AS r, display_name AS d ${FROM} AND remote_address IS NOT NULL ${NEXT}`,
  );
  const inGroup = `${FROM} AND remote_address IS ? AND display_name IS ? AND time >= ? AND time <= ?`;
  const earliest = handle.prepare(`SELECT min(time) AS t ${inGroup}`).pluck();
  const latest = handle.prepare(`SELECT max(time) AS t ${inGroup}`).pluck();

  const after = (accessor: string, { r, d }: Triple): Triple | undefined =>
    ((d === null ? firstName.get(accessor, r) : nextName.get(accessor, r, d)) ??
      (r === null ? firstAddress.get(accessor) : nextAddress.get(accessor, r))) as Triple | undefined;

  const groups: ActorGroup[] = [];
  for (const accessor of new Set(accessors)) {
    for (let group = first.get(accessor) as Triple | undefined; group; group = after(accessor, group)) {
      const range = [accessor, group.r, group.d, window.since, window.until];
      const from = earliest.get(...range) as string | null;
      if (from === null) continue;
      groups.push({
        accessor,
        remote_address: group.r,
        display_name: group.d,
        first: from,
        last: latest.get(...range) as string,
      });
    }
  }
  return groups;
}
