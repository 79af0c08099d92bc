import { createInterface } from 'node:readline/promises';
import { Writable } from 'node:stream';
import { UsageError } from '../errors.js';
import type { PlaybookRuntime } from '../playbook/registry.js';
import { readKeySharesFile, readKeySharesStream } from '../respond/key-shares.js';

/**
 * What a playbook may need from this process only (never journalled): the current key shares from
 * a file or standard input, read once when first needed, and — on a terminal, after asking —
 * showing new key material.
 */
export function playbookRuntime(flags: {
  unsealKeysFile?: string | undefined;
  unsealKeysStdin?: boolean;
  /** The secret-leak runbook's --token-stdin: the leaked token comes from standard input. */
  leakedValueStdin?: boolean;
}): PlaybookRuntime {
  let shares: Promise<readonly string[] | undefined> | undefined;
  let leaked: Promise<string | undefined> | undefined;
  const interactive = Boolean(process.stdin.isTTY && process.stderr.isTTY) && !flags.unsealKeysStdin;
  return {
    currentShares: () =>
      (shares ??= flags.unsealKeysFile
        ? Promise.resolve(readKeySharesFile(flags.unsealKeysFile))
        : flags.unsealKeysStdin
          ? readKeySharesStream(process.stdin)
          : Promise.resolve(undefined)),
    leakedValue: () =>
      (leaked ??= flags.leakedValueStdin
        ? readStdinText().then((text) => text.replace(/\r?\n$/, ''))
        : Promise.resolve(undefined)),
    ...(interactive
      ? {
          promptShares: async (count) => {
            const shares: string[] = [];
            for (let i = 1; i <= count; i++)
              shares.push(await promptHidden(`unseal key share ${i} of ${count} (not echoed): `));
            return shares.filter(Boolean);
          },
          reveal: async (secret) => {
            const rl = createInterface({ input: process.stdin, output: process.stderr, terminal: false });
            try {
              const what = secret.what === 'root_token' ? 'root token' : 'key shares';
              const answer = await rl.question(`show the new ${what} on this terminal now (once)? [y/N] `);
              if (!/^y(es)?$/i.test(answer.trim()))
                throw new UsageError(
                  'the new key material was not shown: rerun with --new-keys-out FILE or --pgp-keys DIR',
                );
              // The one place secrets go to a terminal, on the operator's explicit request.
              for (const value of secret.values) process.stderr.write(`${value}\n`);
            } finally {
              rl.close();
            }
          },
        }
      : {}),
  };
}

/** Standard input as text, read to its end. */
export async function readStdinText(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

/** Reads one line from the terminal without echoing it: a key share must not stay on screen. */
async function promptHidden(question: string): Promise<string> {
  process.stderr.write(question);
  const muted = new Writable({ write: (_chunk, _encoding, done) => done() });
  const rl = createInterface({ input: process.stdin, output: muted, terminal: true });
  try {
    return (await rl.question('')).trim();
  } finally {
    rl.close();
    process.stderr.write('\n');
  }
}
