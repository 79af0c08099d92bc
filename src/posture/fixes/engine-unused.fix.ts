import { join } from 'node:path';
import type { PostureFinding } from '../check.js';
import { MOUNT_EXPORT_FORMAT } from './auth-disable.fix.js';
import {
  EngineReadError,
  engineHoldings,
  exportEngine,
  knownEngineType,
  PROTECTED_ENGINE_PATHS,
  PROTECTED_ENGINE_TYPES,
  type ExportedEngine,
} from './engine-export.js';
import {
  evidenceString,
  FixRefusedError,
  mountAlreadyGone,
  mountName,
  refuseOrContinue,
  type FixDeps,
  type PostureFixer,
  writeExportFile,
} from './fix.js';

/** The file `posture fix` writes before it disables an unused secret engine. */
export interface EngineExportFile {
  format: typeof MOUNT_EXPORT_FORMAT;
  exported_at: string;
  /** The finding that asked for it. */
  finding: string;
  kind: 'secrets';
  mount: ExportedEngine;
  /** What was listed and found empty just before the engine was disabled. */
  checked_empty: string[];
  notes: string[];
}

/** Where the export of an engine goes: one file per mount in the fix's export directory. */
export const engineExportFile = (exportDir: string, mount: string) =>
  join(exportDir, `secrets-${mountName(mount).replaceAll('/', '_')}.json`);

const mountOf = (finding: PostureFinding) => mountName(evidenceString(finding, 'mount'));

/**
 * Why this engine must not be disabled automatically, or undefined. Disabling a secret engine
 * deletes everything stored under it and revokes its leases, and nothing of that can be exported
 * without exporting secrets: a KV engine's secrets, a transit engine's keys (its ciphertexts become
 * unreadable), a PKI or SSH CA's private keys, TOTP seeds, a database static role's password. So
 * only an engine that holds none of these (and has no live lease) is disabled; anything else is the
 * operator's decision, taken by hand after a snapshot. There is deliberately no flag to accept the
 * loss: a per-mount restore does not exist (a snapshot restore rolls the whole cluster back).
 */
async function refusal(finding: PostureFinding, { vault }: FixDeps): Promise<string | undefined> {
  const mount = mountOf(finding);
  if (PROTECTED_ENGINE_PATHS.includes(`${mount}/`)) return `${mount}/ is a built-in engine: never disabled`;
  let live;
  try {
    live = (await vault.listMounts())[`${mount}/`];
  } catch (error) {
    // Not knowing what is mounted there is a reason not to disable it: refused, saying what to grant.
    return `could not read sys/mounts (needs read on sys/mounts): ${error instanceof Error ? error.message : String(error)}`;
  }
  // Gone already: apply says so (a resumed run that disabled it before the crash, or someone else).
  if (!live) return undefined;
  if (PROTECTED_ENGINE_TYPES.includes(live.type)) return `${mount}/ is a ${live.type} engine: never disabled`;
  const seenType = finding.evidence['type'];
  if (typeof seenType === 'string' && seenType !== live.type)
    return `${mount}/ is a ${live.type} engine now, not the ${seenType} engine the finding saw: run sealwatch posture again`;
  const byHand = `take a snapshot first (sealwatch backup snapshot), then export what you need and disable it by hand: bao secrets disable ${mount}/`;
  if (!knownEngineType(live.type))
    return `sealwatch does not know where a ${live.type} engine keeps its data, so it cannot show that disabling ${mount}/ loses nothing: ${byHand}`;
  let holdings;
  try {
    holdings = await engineHoldings(vault, mount, live);
  } catch (error) {
    // An engine whose content could not be listed is not known to be empty: refused, saying what to grant.
    if (error instanceof EngineReadError) return `could not check that ${mount}/ is empty: ${error.message}`;
    throw error;
  }
  if (holdings.holds.length)
    return `${mount}/ still holds data that disabling it would destroy: ${holdings.holds.join('; ')}. Take a snapshot first (sealwatch backup snapshot); then move or delete that data by hand and run this fix again, or disable the engine by hand: bao secrets disable ${mount}/`;
  return undefined;
}

/**
 * A secret engine nobody read or wrote in the audit window (engines-unused:<mount>/) is disabled
 * after its configuration is written to a file (mode 0600) — only when it is empty: see `refusal`.
 * The file holds no secret (the engine holds none by then, and passwords are never returned).
 */
export const disableEngineFix: PostureFixer = {
  name: 'disable-secret-engine',
  title: 'export the configuration of an empty secret engine to a file, then disable it',
  handles: (finding) =>
    typeof finding.evidence['mount'] === 'string' &&
    finding.id === `engines-unused:${finding.evidence['mount']}`,
  refuse: refusal,
  async plan(finding, deps) {
    const mount = mountOf(finding);
    const file = engineExportFile(deps.exportDir, mount);
    return [
      {
        action: `export the configuration of secret engine ${mount}/ (mount settings, tune and the engine's own settings, no secrets) to ${file}`,
        details: { mount: `${mount}/`, file },
      },
      {
        action: `disable secret engine ${mount}/ (sys/mounts/${mount}), checked empty (no secrets, keys, issuers, static roles or leases)`,
        details: { mount: `${mount}/`, type: finding.evidence['type'] ?? null },
        destructive: true,
      },
    ];
  },
  async apply(finding, deps) {
    const mount = mountOf(finding);
    const file = engineExportFile(deps.exportDir, mount);
    const live = (await deps.vault.listMounts())[`${mount}/`];
    if (!live) return mountAlreadyGone(mount, file);
    await refuseOrContinue(this, finding, deps);
    const exported = await exportEngine(deps.vault, mount, live);
    // Listed again after the export, right before the disable: a secret written meanwhile stops it.
    const { holds, checked } = await engineHoldings(deps.vault, mount, live);
    if (holds.length)
      throw new FixRefusedError(finding.id, `${mount}/ received data during the export: ${holds.join('; ')}`);
    const content: EngineExportFile = {
      format: MOUNT_EXPORT_FORMAT,
      exported_at: new Date().toISOString(),
      finding: finding.id,
      kind: 'secrets',
      mount: exported,
      checked_empty: checked,
      notes: exportNotes(exported),
    };
    const { sha256 } = writeExportFile(file, content);
    await deps.vault.disableMount(mount);
    return {
      evidence: {
        mount: `${mount}/`,
        type: live.type,
        disabled: true,
        file,
        sha256,
        settings: Object.keys(exported.settings).length,
        checked_empty: checked,
      },
    };
  },
};

function exportNotes(exported: ExportedEngine): string[] {
  const m = mountName(exported.path);
  const version = exported.options?.['version'];
  const notes = [
    `re-enable with: bao secrets enable -path=${m}${version ? ` -version=${version}` : ''} ${exported.type}, then tune it (sys/mounts/${m}/tune) and write each entry of settings back to ${m}/<key>`,
    'the accessor is new when the engine is enabled again',
  ];
  if (exported.type === 'database')
    notes.push(
      'database connection passwords are not returned by the server: write each connection back with its password (then rotate-root)',
    );
  return notes;
}
