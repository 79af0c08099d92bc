import type { Config } from '../config/load.js';
import { SealwatchError } from '../errors.js';
import type { Logger } from '../logging/logger.js';
import type { Store } from '../store/store.js';
import type { VaultClient } from '../vault/client.js';
import type { Site } from './site.js';
import type { Step } from './step.js';

/**
 * What a playbook's steps are built from. One object, so a capability adds what it needs in one
 * place; the CLI builds it (lazily: `incident list` never needs a Vault token).
 */
export interface PlaybookDeps {
  vault: VaultClient;
  store: Store;
  config: Config;
  logger: Logger;
  /** What only the running process knows and the journal never holds. */
  runtime?: PlaybookRuntime;
  /** What this host can reach beside the API (a lab's key holders, node processes, audit log). */
  site?: Site;
}

/** Secrets and terminals a playbook may use at run time; none of it is journalled. */
export interface PlaybookRuntime {
  /** The current unseal (or recovery) shares the operator gave (--unseal-keys-file / --unseal-keys-stdin). */
  currentShares?: () => Promise<readonly string[] | undefined>;
  /** Asks for `count` key shares on the terminal without echoing them (interactive runs only). */
  promptShares?: (count: number) => Promise<readonly string[]>;
  /** Shows a secret on the operator's terminal after confirmation (new shares, a new root token). */
  reveal?: (secret: { what: 'unseal_keys' | 'root_token'; values: readonly string[] }) => Promise<void>;
  /** A leaked value (token) the operator gave on standard input (--token-stdin), read once. */
  leakedValue?: () => Promise<string | undefined>;
  /** Receives application credentials issued during recovery (AppRole secret IDs). */
  onAppCredentials?: (
    credentials: readonly { mount: string; role: string; role_id: string; secret_id: string }[],
  ) => Promise<void> | void;
}

/**
 * Builds the steps of one incident type from the incident's options as journalled (JSON). It must
 * build the same steps, in the same order, for the same options: that is how `incident resume`
 * rebuilds a playbook after a crash. Options come back from the journal untyped; a factory parses
 * them (zod) into its own shape.
 */
// Step methods are bivariant in their context, so a Step<BreachOptions>[] is a Step[] here.
export type PlaybookFactory = (
  deps: PlaybookDeps,
  options: Readonly<Record<string, unknown>>,
) => Step[] | Promise<Step[]>;

/**
 * Incident type → playbook. A plain object checked by the compiler; the capability that owns a
 * type adds one line to the registry the CLI passes in (src/cli/playbooks.ts).
 */
export type PlaybookRegistry = Readonly<Record<string, PlaybookFactory>>;

export class UnknownPlaybookError extends SealwatchError {
  constructor(type: string, known: readonly string[]) {
    super(
      'unknown_playbook',
      `no playbook for incident type ${type} in this sealwatch (known: ${known.join(', ') || 'none'}): resume it with the sealwatch version that declared it`,
      { details: { type } },
    );
  }
}

export function playbookFor(registry: PlaybookRegistry, type: string): PlaybookFactory {
  const factory = Object.hasOwn(registry, type) ? registry[type] : undefined;
  if (!factory) throw new UnknownPlaybookError(type, Object.keys(registry));
  return factory;
}
