import {
  loadConfig,
  loadCredentials,
  type Config,
  type Credentials,
  type GlobalFlags,
} from '../config/load.js';
import { UsageError } from '../errors.js';
import { LOG_FORMATS, type LogFormat } from '../logging/log-format.js';
import { labSite } from '../lab/lab-site.js';
import { createLogger, type Logger, type LogLevel } from '../logging/logger.js';
import type { PlaybookDeps, PlaybookRuntime } from '../playbook/registry.js';
import type { Site } from '../playbook/site.js';
import { Store } from '../store/store.js';
import { VaultClient } from '../vault/client.js';
import { terminalOutput, type Output } from './output.js';

export interface GlobalOptions extends GlobalFlags {
  json?: boolean;
  logLevel?: string;
  logFormat?: string;
}

const LOG_LEVELS: readonly LogLevel[] = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'];

const isLogLevel = (value: string): value is LogLevel => LOG_LEVELS.some((level) => level === value);
const isLogFormat = (value: string): value is LogFormat => LOG_FORMATS.some((format) => format === value);

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
  private readonly logLevel: LogLevel | undefined;
  private readonly logFormat: LogFormat | undefined;

  constructor(
    readonly options: GlobalOptions,
    out: Output = terminalOutput(),
    private readonly env: Readonly<Record<string, string | undefined>> = process.env,
  ) {
    this.json = options.json ?? false;
    this.out = out;
    if (options.logLevel !== undefined && !isLogLevel(options.logLevel))
      throw new UsageError(`--log-level must be one of ${LOG_LEVELS.join(', ')}`);
    this.logLevel = options.logLevel;
    const format = options.logFormat ?? env['SEALWATCH_LOG_FORMAT'];
    if (format !== undefined && !isLogFormat(format))
      throw new UsageError(
        `${options.logFormat ? '--log-format' : 'SEALWATCH_LOG_FORMAT'} must be one of ${LOG_FORMATS.join(', ')}`,
      );
    this.logFormat = format;
  }

  config(): Config {
    this.cachedConfig ??= loadConfig(this.options, this.env);
    return this.cachedConfig;
  }

  get logger(): Logger {
    this.cachedLogger ??= createLogger({
      level: this.logLevel ?? this.safeConfigLevel(),
      ...(this.logFormat && { format: this.logFormat }),
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

  /**
   * What this host can reach beside the API, for playbooks and runbooks: a lab's key holders, node
   * processes and audit log when the configuration names a lab file (`lab up` writes it); none otherwise.
   */
  site(): Site | undefined {
    return labSite(this.config().lab?.file, { logger: this.logger });
  }

  /** What a playbook's steps are built from, with this run's runtime (secrets and terminals). */
  async playbookDeps(runtime?: PlaybookRuntime, vault: VaultClient = this.vault()): Promise<PlaybookDeps> {
    return {
      vault,
      store: await this.store(),
      config: this.config(),
      logger: this.logger,
      ...(runtime ? { runtime } : {}),
      site: this.site(),
    };
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
