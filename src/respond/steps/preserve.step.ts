import { createHash } from 'node:crypto';
import {
  createReadStream,
  createWriteStream,
  existsSync,
  mkdirSync,
  readFileSync,
  renameSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { basename } from 'node:path';
import { Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { Step } from '../../playbook/step.js';
import type { VaultClient } from '../../vault/client.js';
import { BadRequestError, NotFoundError, UnsupportedOperationError } from '../../vault/errors.js';
import { ensureAuthExport, readEncryptedExport, readExportKey } from '../auth-export.js';
import { incidentDirectory, incidentFiles, type IncidentFilesDeps } from '../incident-files.js';
import { errorMessage } from '../../errors.js';

export interface PreserveStepOptions {
  /** A file holding the 256-bit key that encrypts the auth export; without it a new key is written beside the export. */
  export_key_file?: string;
}

export interface PreserveStepDeps extends IncidentFilesDeps {
  vault: Pick<
    VaultClient,
    | 'snapshot'
    | 'listAuditDevices'
    | 'listAuthMounts'
    | 'list'
    | 'read'
    | 'readOptional'
    | 'listPolicies'
    | 'readPolicy'
  >;
  /** Overrides options.export_key_file (the CLI's --export-key-file). */
  exportKeyFile?: string | undefined;
}

export interface PreserveOutputs {
  incident_dir: string;
  snapshot_file: string | null;
  snapshot_sha256: string | null;
  auth_export_file: string;
  export_key_file: string;
  export_key_generated: boolean;
}

/**
 * "Declare and preserve evidence": before anything is changed, keep what the investigation and the
 * recovery need — the raft snapshot (checksummed), the audit devices, and the whole auth
 * configuration and ACL policies, encrypted at rest (they name every role and its bound addresses).
 * A re-run reuses a snapshot whose checksum still matches and an export that still decrypts.
 */
export function createPreserveStep(deps: PreserveStepDeps): Step<PreserveStepOptions> {
  const keyFileOf = (options: PreserveStepOptions) => deps.exportKeyFile ?? options.export_key_file;
  return {
    id: 'preserve',
    title: 'Declare and preserve evidence',
    targetSeconds: 5 * 60,
    needsApproval: false,
    async plan({ incidentId, options }) {
      const files = incidentFiles(incidentDirectory(deps, incidentId));
      const keyFile = keyFileOf(options);
      return [
        { action: `save the raft snapshot to ${files.snapshot} and its SHA-256 beside it` },
        { action: `list the audit devices into ${files.auditDevices}` },
        {
          action: `export every auth mount's configuration (roles, role ids, users, token roles, jwt/oidc) and ACL policies, AES-256-GCM encrypted, to ${files.authExport}`,
          details: keyFile
            ? { key_file: keyFile }
            : {
                key_file: files.generatedExportKey,
                note: 'no export key file named: a new key will be written there (mode 0600); move it somewhere safe',
              },
        },
      ];
    },
    async run({ incidentId, options, progress, logger }) {
      const dir = incidentDirectory(deps, incidentId);
      const files = incidentFiles(dir);
      mkdirSync(dir, { recursive: true, mode: 0o700 });

      const snapshot = await saveSnapshot(deps.vault, files.snapshot, files.snapshotChecksum);
      if (snapshot.saved)
        progress(
          `raft snapshot saved: ${files.snapshot} (${snapshot.bytes} bytes, sha256 ${snapshot.sha256})`,
        );

      const devices = await deps.vault.listAuditDevices();
      writeFileSync(files.auditDevices, JSON.stringify(devices, null, 2) + '\n', { mode: 0o600 });

      const ensured = await ensureAuthExport(deps.vault, {
        file: files.authExport,
        keyFile: keyFileOf(options),
        generatedKeyFile: files.generatedExportKey,
      });
      if (ensured.keyGenerated) {
        const warning =
          `NO EXPORT KEY FILE WAS NAMED: a new AES-256 key was written to ${ensured.keyFile} (mode 0600), beside the export it opens. ` +
          'Move it off this host to where your key holders keep secrets; recovery needs it.';
        logger.warn({ keyFile: ensured.keyFile }, warning);
        progress(`!!! ${warning}`);
      }
      const exported = ensured.exported;
      const outputs: PreserveOutputs = {
        incident_dir: dir,
        snapshot_file: snapshot.file,
        snapshot_sha256: snapshot.sha256,
        auth_export_file: ensured.file,
        export_key_file: ensured.keyFile,
        export_key_generated: ensured.keyGenerated,
      };
      return {
        evidence: {
          snapshot: snapshot.file
            ? { file: snapshot.file, bytes: snapshot.bytes, sha256: snapshot.sha256, reused: !snapshot.saved }
            : { unavailable: snapshot.unavailable },
          audit_devices: devices.map((d) => ({ path: d.path, type: d.type, options: d.options })),
          auth_export: {
            file: ensured.file,
            encryption: 'AES-256-GCM',
            key_file: ensured.keyFile,
            key_generated: ensured.keyGenerated,
            reused: ensured.reused,
            mounts: exported.mounts.map((m) => ({
              path: m.path,
              type: m.type,
              coverage: m.coverage,
              roles: Object.keys(m.roles).length,
              users: Object.keys(m.users).length,
            })),
            policies: Object.keys(exported.policies).length,
            notes: exported.notes,
          },
        },
        outputs: { ...outputs },
      };
    },
    async verify({ incidentId, options }, outcome) {
      const files = incidentFiles(incidentDirectory(deps, incidentId));
      const out = outcome.outputs as Partial<PreserveOutputs> | undefined;
      const checks: Record<string, unknown> = {};
      let ok = true;
      if (out?.snapshot_file) {
        const sha = await sha256File(out.snapshot_file);
        checks['snapshot_checksum_matches'] = sha === out.snapshot_sha256;
        ok &&= sha === out.snapshot_sha256;
      }
      try {
        const key = readExportKey(out?.export_key_file ?? keyFileOf(options) ?? files.generatedExportKey);
        const exported = readEncryptedExport(out?.auth_export_file ?? files.authExport, key);
        checks['auth_export_decrypts'] = true;
        checks['auth_export_mounts'] = exported.mounts.length;
      } catch (error) {
        checks['auth_export_decrypts'] = false;
        checks['auth_export_error'] = errorMessage(error);
        ok = false;
      }
      checks['audit_devices_file'] = existsSync(files.auditDevices);
      ok &&= existsSync(files.auditDevices);
      return { ok, evidence: checks };
    },
  };
}

interface SavedSnapshot {
  file: string | null;
  bytes: number;
  sha256: string | null;
  /** False when an earlier run's snapshot still matched its checksum and was kept. */
  saved: boolean;
  unavailable?: string;
}

/** Streams the snapshot to `<file>.partial` while hashing it, then renames: a cut-off run leaves no half file as evidence. */
async function saveSnapshot(
  vault: Pick<VaultClient, 'snapshot'>,
  file: string,
  checksumFile: string,
): Promise<SavedSnapshot> {
  if (existsSync(file) && existsSync(checksumFile)) {
    const recorded = readFileSync(checksumFile, 'utf8').split(/\s+/)[0];
    const actual = await sha256File(file);
    if (recorded === actual) return { file, bytes: statSync(file).size, sha256: actual, saved: false };
  }
  let stream;
  try {
    stream = await vault.snapshot();
  } catch (error) {
    // Not integrated storage (raft): there is no snapshot to take; the evidence says so.
    if (
      error instanceof BadRequestError ||
      error instanceof NotFoundError ||
      error instanceof UnsupportedOperationError
    )
      return { file: null, bytes: 0, sha256: null, saved: false, unavailable: error.message };
    throw error;
  }
  const hash = createHash('sha256');
  let bytes = 0;
  const partial = `${file}.partial`;
  await pipeline(
    stream,
    new Transform({
      transform(chunk: Buffer, _enc, done) {
        hash.update(chunk);
        bytes += chunk.length;
        done(null, chunk);
      },
    }),
    createWriteStream(partial, { mode: 0o600 }),
  );
  const sha256 = hash.digest('hex');
  renameSync(partial, file);
  writeFileSync(checksumFile, `${sha256}  ${basename(file)}\n`, { mode: 0o600 });
  return { file, bytes, sha256, saved: true };
}

async function sha256File(file: string): Promise<string> {
  const hash = createHash('sha256');
  await pipeline(createReadStream(file), hash);
  return hash.digest('hex');
}
