/**
 * `npm run bench -- NAME [options]`: runs bench/NAME.ts, which reads its own options from argv
 * (NAME stays the first positional). Each bench prints a table and ends with one JSON line.
 */
import { existsSync, readdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const name = process.argv[2];
const available = readdirSync(here)
  .filter((f) => f.endsWith('.ts') && f !== 'run.ts')
  .map((f) => f.slice(0, -3));

if (!name || !/^[a-z0-9-]+$/.test(name) || !existsSync(join(here, `${name}.ts`))) {
  console.error(`usage: npm run bench -- NAME [options]   (NAME: ${available.join(', ')})`);
  process.exit(2);
}
await import(pathToFileURL(join(here, `${name}.ts`)).href);
