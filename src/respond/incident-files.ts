import { join } from 'node:path';

/** Where an incident keeps its evidence: the snapshot, the encrypted auth export, its key when generated. */
export interface IncidentFilesDeps {
  /** sealwatch's store directory; the incident directory is `<storeDir>/incidents/<incident id>/`. */
  storeDir?: string | undefined;
  /** An explicit incident directory (overrides storeDir). */
  incidentDir?: string | undefined;
}

export function incidentDirectory(deps: IncidentFilesDeps, incidentId: string): string {
  if (deps.incidentDir) return deps.incidentDir;
  return join(deps.storeDir ?? '.sealwatch', 'incidents', incidentId);
}

export const incidentFiles = (dir: string) => ({
  snapshot: join(dir, 'raft-snapshot.snap'),
  snapshotChecksum: join(dir, 'raft-snapshot.snap.sha256'),
  auditDevices: join(dir, 'audit-devices.json'),
  authExport: join(dir, 'auth-export.json.enc'),
  /** Written only when the operator named no key file. */
  generatedExportKey: join(dir, 'auth-export.key'),
  containState: join(dir, 'contain-state.json'),
  recoverState: join(dir, 'recover-state.json'),
});
