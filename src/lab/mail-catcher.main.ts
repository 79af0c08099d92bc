/**
 * The lab's mail catcher as a program: `node mail-catcher.main.js --port P --inbox FILE`, which
 * `sealwatch lab up` starts detached (see mail.ts). It is a file of its own, imported by nothing,
 * so that bundling the CLI keeps it a program: in a module that `lab mail` also imports, the
 * bundler moves the code into a shared chunk, where no check of "am I the main module" holds.
 */
import { runMailCatcher } from './mail-catcher.js';

const arg = (name: string) => {
  const i = process.argv.indexOf(name);
  return i === -1 ? undefined : process.argv[i + 1];
};
const port = Number(arg('--port'));
const inbox = arg('--inbox');
if (!Number.isInteger(port) || !inbox) {
  process.stderr.write('usage: mail-catcher --port PORT --inbox FILE\n');
  process.exit(2);
}
const server = await runMailCatcher(port, inbox);
process.stderr.write(`mail catcher listening on 127.0.0.1:${port}, inbox ${inbox}\n`);
for (const signal of ['SIGTERM', 'SIGINT'] as const)
  process.once(signal, () => server.close(() => process.exit(0)));
