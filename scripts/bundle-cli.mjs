// Bundles the CLI (after `tsc` has built dist/) so that `sealwatch` starts in a quarter of a second
// instead of loading hundreds of modules one by one (kysely alone is 280; measured: `assess --help`
// 0.42 s unbundled, 0.24 s bundled): dist/cli/main.js, its
// lazily loaded commands as chunks beside it, and the scripts the CLI starts by path, the
// audit parse and store workers and the lab's mail catcher, which must sit beside the code that starts them.
// Packages with native parts, or loaded only by a few commands, stay ordinary imports.
import { build } from 'esbuild';
import { readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';

// Chunks are named by content: the ones of earlier builds would pile up.
for (const name of readdirSync('dist/cli')) if (name.startsWith('chunk-')) rmSync(join('dist/cli', name));

await build({
  entryPoints: {
    main: 'src/cli/main.ts',
    'parse-thread.worker': 'src/audit/parse-thread.worker.ts',
    'store-thread.worker': 'src/audit/store-thread.worker.ts',
    // A program of its own: see the note at the top of that file.
    'mail-catcher.main': 'src/lab/mail-catcher.main.ts',
  },
  outdir: 'dist/cli',
  chunkNames: 'chunk-[hash]',
  bundle: true,
  splitting: true,
  format: 'esm',
  platform: 'node',
  target: 'node20',
  sourcemap: true,
  logLevel: 'warning',
  external: [
    'better-sqlite3',
    'pg',
    'ssh2',
    'cpu-features',
    'pino',
    'pino-pretty',
    'openpgp',
    'nodemailer',
    'smtp-server',
    'tar',
    'sshpk',
    // Reads its WebAssembly (main.wasm.gz) from beside its own files.
    '@cdktf/hcl2json',
    // Imported on the first request to Vault: esbuild would give that dynamic import of a CommonJS
    // package only a default export, Node gives it its named ones.
    'undici',
  ],
  // CommonJS packages in an ES module bundle still call require() for Node's built-ins.
  banner: {
    js: "import { createRequire as sealwatchRequire } from 'node:module'; const require = sealwatchRequire(import.meta.url);",
  },
});
