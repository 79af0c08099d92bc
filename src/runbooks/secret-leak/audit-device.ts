import { existsSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { NoLabError, readLabFile } from '../../lab/lab-file.js';
import type { AuditDevice } from '../../vault/types.js';

/** The path (name) of the audit device this runbook declares. */
export const SECOND_AUDIT_DEVICE = 'secondary';

/** A node whose server configuration sealwatch can edit and reload: a lab node on this host. */
export interface EditableNode {
  node: string;
  config_file: string;
  pid: number;
}

/** The nodes of the lab the config points at, or none (their configuration is the operator's). */
export function editableNodes(labFile: string | undefined): EditableNode[] {
  if (!labFile) return [];
  try {
    return readLabFile(dirname(labFile)).nodes.map((n) => ({
      node: n.address,
      config_file: n.config_file,
      pid: n.pid,
    }));
  } catch (error) {
    // A configured lab that was never started has no node configuration to edit.
    if (error instanceof NoLabError) return [];
    throw error;
  }
}

/** Where the second file device writes unless told: beside the first file device's log. */
export function defaultSecondAuditFile(devices: readonly AuditDevice[]): string {
  const file = devices.find((d) => d.type === 'file')?.options?.['file_path'];
  return file && file !== 'stdout' && file !== 'discard'
    ? join(dirname(file), 'audit-secondary.log')
    : '/var/log/openbao/audit-secondary.log';
}

/**
 * The `audit` stanza of the second device. OpenBao 2.4+ creates audit devices only from the server
 * configuration, and a reload (SIGHUP) adds the devices a configuration declares — and disables
 * those it no longer declares, so every node's configuration must carry the stanza.
 */
export function secondAuditStanza(file: string, devices: readonly AuditDevice[]): string {
  const hmacAccessor = devices.find((d) => d.options?.['hmac_accessor'] !== undefined)?.options?.[
    'hmac_accessor'
  ];
  return `
# Added by sealwatch (runbook secret-leak): a second audit device, so one failing device cannot
# leave requests unaudited (or blocked) and two independent trails exist.
audit "file" ${JSON.stringify(SECOND_AUDIT_DEVICE)} {
  description = "second audit device (sealwatch secret-leak)"
  options {
    file_path = ${JSON.stringify(file)}
${hmacAccessor !== undefined ? `    hmac_accessor = ${JSON.stringify(hmacAccessor)}\n` : ''}  }
}
`;
}

const declares = (text: string) =>
  new RegExp(`audit\\s+"[^"]+"\\s+"${SECOND_AUDIT_DEVICE}"\\s*\\{`).test(text);

/**
 * Appends the stanza to a node's configuration file (atomically, once) and asks the server to
 * reload it. Returns whether the file was changed.
 */
export function declareAndReload(node: EditableNode, stanza: string): { changed: boolean } {
  // A server that is gone fails here, before its configuration is touched.
  process.kill(node.pid, 0);
  if (!existsSync(node.config_file)) throw new Error(`${node.config_file} does not exist`);
  const text = readFileSync(node.config_file, 'utf8');
  const changed = !declares(text);
  if (changed) {
    const tmp = `${node.config_file}.sealwatch.tmp`;
    writeFileSync(tmp, `${text.replace(/\s*$/, '\n')}${stanza}`);
    renameSync(tmp, node.config_file);
  }
  process.kill(node.pid, 'SIGHUP');
  return { changed };
}
