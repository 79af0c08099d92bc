import { chmodSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { z } from 'zod';
import { ConfigError, errorMessage } from '../errors.js';
import { registerSecret } from '../logging/redactor.js';

export const LAB_FILE = 'lab.json';
export const LAB_CONFIG_FILE = 'sealwatch.yaml';

const labNodeSchema = z.object({
  node_id: z.string(),
  address: z.string(),
  cluster_address: z.string(),
  pid: z.int(),
  data_dir: z.string(),
  config_file: z.string(),
  log_file: z.string(),
});

const labAppSchema = z.object({
  role: z.string(),
  role_id: z.string(),
  secret_id: z.string(),
  policies: z.array(z.string()),
});

export const labFileSchema = z.object({
  lab_only: z.literal(true),
  warning: z.string(),
  created_at: z.string(),
  updated_at: z.string().optional(),
  root_token: z.string(),
  unseal_keys: z.array(z.string()).min(1),
  key_shares: z.int(),
  key_threshold: z.int(),
  bao_binary: z.string(),
  audit_log: z.string(),
  audit_socket: z.string().optional(),
  tenants: z.int(),
  nodes: z.array(labNodeSchema).min(1),
  apps: z.array(labAppSchema).default([]),
  /** The lab's SMTP mail catcher (`lab mail`), when it runs one. */
  mail: z.object({ port: z.int(), pid: z.int() }).optional(),
});

export type LabFile = z.infer<typeof labFileSchema>;
export type LabNode = z.infer<typeof labNodeSchema>;
export type LabApp = z.infer<typeof labAppSchema>;

export const LAB_WARNING =
  'LAB ONLY: this file holds the root token and every unseal key of a throwaway local lab. ' +
  'Never keep real key shares or tokens like this.';

export function labFilePath(dir: string): string {
  return join(dir, LAB_FILE);
}

/** The lab file does not exist: no lab was started there (or it was removed). */
export class NoLabError extends ConfigError {}

export function readLabFile(dir: string): LabFile {
  const file = labFilePath(dir);
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (error) {
    if (error instanceof Error && 'code' in error && error.code === 'ENOENT')
      throw new NoLabError(
        `no lab in ${dir}: ${file} does not exist (start one with sealwatch lab up --dir ${dir})`,
        { cause: error },
      );
    throw new ConfigError(`lab file ${file} cannot be read: ${errorMessage(error)}`, { cause: error });
  }
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (error) {
    throw new ConfigError(`lab file ${file} is not valid JSON (${errorMessage(error)})`, { cause: error });
  }
  const parsed = labFileSchema.safeParse(raw);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new ConfigError(`lab file ${file}: ${issue?.path.join('.') ?? ''}: ${issue?.message ?? 'invalid'}`);
  }
  const lab = parsed.data;
  registerSecret(lab.root_token, ...lab.unseal_keys, ...lab.apps.map((app) => app.secret_id));
  return lab;
}

/** Writes the lab file atomically with mode 0600: it holds the lab's root token and unseal keys. */
export function writeLabFile(dir: string, lab: LabFile): void {
  const file = labFilePath(dir);
  const tmp = `${file}.${process.pid}.tmp`;
  writeFileSync(tmp, JSON.stringify({ ...lab, updated_at: new Date().toISOString() }, null, 2) + '\n', {
    mode: 0o600,
  });
  chmodSync(tmp, 0o600);
  renameSync(tmp, file);
}

/**
 * The lab's key holders: `lab up` keeps every share in lab.json (lab only; config `lab.file`).
 * No lab file means no shares; a lab file that cannot be read or parsed is an error naming it.
 */
export function labShares(labFile: string | undefined): string[] | undefined {
  if (!labFile) return undefined;
  try {
    return readLabFile(dirname(labFile)).unseal_keys;
  } catch (error) {
    // A configured lab that was never started (or was removed) holds no shares.
    if (error instanceof NoLabError) return undefined;
    throw error;
  }
}
