import {
  loadConfig,
  loadCredentials,
  type Config,
  type Credentials,
  type GlobalFlags,
} from '../config/load.js';
import { UsageError } from '../errors.js';
import { createLogger, type Logger, type LogLevel } from '../logging/logger.js';
import { Store } from '../store/store.js';
import { VaultClient } from '../vault/client.js';
import { terminalOutput, type Output } from './output.js';

export interface GlobalOptions extends GlobalFlags {
  json?: boolean;
  logLevel?: string;
}

const LOG_LEVELS: readonly LogLevel[] = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'];

/**
 * What a command needs, built lazily from the global options: a command that never talks to Vault
 * never reads a token, one that never stores never opens the database.
 */
export class CliContext {
  readonly json: boolean;
  readonly out: Output;
  private cachedConfig: Config | undefined;
  private cachedLogger: Logger | undefined;
  private cachedVault: VaultClient | undefined;
  private cachedStore: Promise<Store> | undefined;
  private cachedCredentials: Credentials | undefined;

  constructor(
    readonly options: GlobalOptions,
    out: Output = terminalOutput(),
    private readonly env: Readonly<Record<string, string | undefined>> = process.env,
  ) {
    this.json = options.json ?? false;
    this.out = out;
    if (options.logLevel && !LOG_LEVELS.includes(options.logLevel as LogLevel))
      throw new UsageError(`--log-level must be one of ${LOG_LEVELS.join(', ')}`);
  }

  config(): Config {
    this.cachedConfig ??= loadConfig(this.options, this.env);
    return this.cachedConfig;
  }

  get logger(): Logger {
    this.cachedLogger ??= createLogger({
      level: (this.options.logLevel as LogLevel | undefined) ?? this.safeConfigLevel(),
    });
    return this.cachedLogger;
  }

  private safeConfigLevel(): LogLevel {
    try {
      return this.config().logLevel;
    } catch {
      // The log level only; the command reports the configuration error itself when it loads the config.
      return 'warn';
    }
  }

  credentials(): Credentials {
    this.cachedCredentials ??= loadCredentials(this.config(), this.options, this.env);
    return this.cachedCredentials;
  }

  /**
   * The Vault client, built on first use. `overrides` apply to that first build: a diagnosis asks
   * with a short timeout and no retries so that a hung node costs seconds, not minutes.
   */
  vault(overrides: { timeoutMs?: number; retries?: number } = {}): VaultClient {
    if (!this.cachedVault) {
      const config = this.config();
      const { token } = this.credentials();
      const overridden = config.vault.overriddenAddresses;
      if (overridden && overridden.join(',') !== config.vault.addresses.join(','))
        this.out.progress(
          `note: ${config.vault.addressSource} (${config.vault.addresses.join(',')}) overrides vault.addresses of ${config.file} (${overridden.join(',')})`,
        );
      this.cachedVault = new VaultClient({
        addresses: config.vault.addresses,
        token,
        namespace: config.vault.namespace,
        timeoutMs: Math.min(config.vault.timeoutMs, overrides.timeoutMs ?? Infinity),
        retries: Math.min(config.vault.retries, overrides.retries ?? Infinity),
        maxConnections: config.vault.maxConnections,
        caFile: config.vault.caFile,
        insecureSkipVerify: config.vault.insecureSkipVerify,
        logger: this.logger.child({ component: 'vault' }),
      });
    }
    return this.cachedVault;
  }

  store(): Promise<Store> {
    this.cachedStore ??= Store.open(this.config().store.url);
    return this.cachedStore;
  }

  progress(text: string): void {
    this.out.progress(text);
  }

  async close(): Promise<void> {
    await this.cachedVault?.close();
    // A store that failed to open has nothing to close; its error went to the command that opened it.
    if (this.cachedStore) await (await this.cachedStore.catch(() => undefined))?.close();
  }
}
