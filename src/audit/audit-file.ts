import { createReadStream } from 'node:fs';
import { basename } from 'node:path';
import { createGunzip } from 'node:zlib';

/** 1 MiB reads: fewer syscalls and fewer async steps per line; memory stays a few MiB. */
const READ_CHUNK = 1024 * 1024;

/** The bytes of an audit log file, gunzipped when its name ends in .gz. */
export function openAuditFile(file: string): AsyncIterable<Buffer> {
  const raw = createReadStream(file, { highWaterMark: READ_CHUNK });
  if (!basename(file).endsWith('.gz')) return raw;
  const gunzip = createGunzip({ chunkSize: READ_CHUNK });
  // pipe() does not forward errors: a missing .gz must fail the iteration, not hang it.
  raw.on('error', (error) => gunzip.destroy(error));
  return raw.pipe(gunzip);
}
