import { join } from 'node:path';
import { exportAuthMount, type ExportedAuthMount } from '../../respond/auth-export.js';
import {
  evidenceString,
  mountAlreadyGone,
  mountName,
  refuseOrContinue,
  type PostureFixer,
  writeExportFile,
} from './fix.js';

export const MOUNT_EXPORT_FORMAT = 'sealwatch-mount-export/1';

/** The file `posture fix` writes before it disables a mount: enough to enable it again as it was. */
export interface MountExportFile {
  format: typeof MOUNT_EXPORT_FORMAT;
  exported_at: string;
  /** The finding that asked for it. */
  finding: string;
  kind: 'auth';
  /** Mount settings, backend config and every role or user as the server answers them, minus role IDs. */
  mount: Omit<ExportedAuthMount, 'roleIds'>;
  notes: string[];
}

/** Where the export of a mount goes: one file per mount in the fix's export directory. */
export const mountExportFile = (exportDir: string, mount: string) =>
  join(exportDir, `auth-${mountName(mount).replaceAll('/', '_')}.json`);

/**
 * An auth method nobody logged in through (auth-unused:mount:<path>) is disabled, after its
 * configuration is written to a file: disabling an auth mount deletes every role in it, so the file
 * is what puts it back (`bao auth enable` + a write per role). The file holds no secret: role IDs
 * are left out (with secret IDs they log in) and the server never returns passwords or client
 * secrets. The caller's own token is refused when it came from this mount (disabling revokes it).
 */
export const disableAuthMountFix: PostureFixer = {
  name: 'disable-auth-mount',
  title: 'export the auth mount configuration to a file, then disable the mount',
  handles: (finding) => finding.id.startsWith('auth-unused:mount:'),
  async refuse(finding, { vault }) {
    const mount = mountName(evidenceString(finding, 'mount'));
    if (mount === 'token') return 'the token auth method cannot be disabled';
    const self = await vault.tokenLookupSelf();
    if (self.path.startsWith(`auth/${mount}/`))
      return `the token sealwatch runs with came from auth/${mount}/ (${self.path}): disabling the mount would revoke it`;
    return undefined;
  },
  async plan(finding, deps) {
    const mount = mountName(evidenceString(finding, 'mount'));
    const file = mountExportFile(deps.exportDir, mount);
    return [
      {
        action: `export the configuration of auth mount ${mount}/ (mount settings and every role, no secrets) to ${file}`,
        details: { mount: `${mount}/`, file },
      },
      {
        action: `disable auth mount ${mount}/ (sys/auth/${mount}): deletes its roles and revokes its tokens`,
        details: { mount: `${mount}/`, type: finding.evidence['type'] ?? null },
        destructive: true,
      },
    ];
  },
  async apply(finding, deps) {
    const mount = mountName(evidenceString(finding, 'mount'));
    const file = mountExportFile(deps.exportDir, mount);
    const live = (await deps.vault.listAuthMounts())[`${mount}/`];
    if (!live) return mountAlreadyGone(mount, file);
    await refuseOrContinue(this, finding, deps);
    const exported = await exportAuthMount(deps.vault, `${mount}/`, live);
    const { roleIds, ...withoutRoleIds } = exported;
    const content: MountExportFile = {
      format: MOUNT_EXPORT_FORMAT,
      exported_at: new Date().toISOString(),
      finding: finding.id,
      kind: 'auth',
      mount: withoutRoleIds,
      notes: exportNotes(exported, Object.keys(roleIds).length),
    };
    const { sha256 } = writeExportFile(file, content);
    await deps.vault.disableAuth(mount);
    return {
      evidence: {
        mount: `${mount}/`,
        type: live.type,
        disabled: true,
        file,
        sha256,
        roles: Object.keys(exported.roles).length,
        users: Object.keys(exported.users).length,
      },
    };
  },
};

function exportNotes(exported: ExportedAuthMount, roleIds: number): string[] {
  const notes = [
    `re-enable with: bao auth enable -path=${mountName(exported.path)} ${exported.type}, then write each role back`,
  ];
  if (roleIds > 0)
    notes.push(
      `${roleIds} AppRole role ID(s) are not in this file: a re-created role gets a new role_id unless you set it (auth/<mount>/role/<role>/role-id)`,
    );
  if (exported.type === 'userpass')
    notes.push('userpass passwords are not returned by the server: a re-created user needs a new password');
  if (exported.coverage === 'mount-only')
    notes.push(
      `sealwatch does not know the role layout of ${exported.type}: only the mount settings are here`,
    );
  return notes;
}
