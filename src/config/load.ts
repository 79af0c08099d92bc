import { existsSync, readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { dirname, isAbsolute, resolve } from 'node:path';
import { parseDocument } from 'yaml';
import type { z } from 'zod';
import { ConfigError, describeSystemError } from '../errors.js';
import { mustParsePathTemplate, type PathTemplate } from './path-template.js';
import { parseDuration } from '../util/duration.js';
import { resolveNotifyPaths, type NotifyConfig } from './notify.schema.js';
import type { RotationConfig } from './rotation.schema.js';
import { resolveWatchPaths, type WatchConfigFile } from './watch.schema.js';
import { configFileSchema, logLevelSchema, type ConfigFile, type TenantSource } from './schema.js';

/** Flags every command accepts; undefined when not given on the command line. */
export interface GlobalFlags {
  config?: string;
  store?: string;
  addr?: string;
  token?: string;
}

export type Env = Readonly<Record<string, string | undefined>>;

export interface Config {
  /** The config file that was read, if any. */
  readonly file: string | undefined;
  readonly vault: {
    readonly addresses: readonly string[];
    /** Where the addresses came from, so a surprising override can be explained. */
    readonly addressSource: 'flag' | 'BAO_ADDR' | 'VAULT_ADDR' | 'config' | 'default';
    /** The config file's own addresses, when the environment or a flag overrode them. */
    readonly overriddenAddresses: readonly string[] | undefined;
    readonly timeoutMs: number;
    readonly retries: number;
    readonly maxConnections: number;
    readonly namespace: string | undefined;
    readonly caFile: string | undefined;
    readonly insecureSkipVerify: boolean;
    /** A file holding only a token (`vault.token_file`). */
    readonly tokenFile: string | undefined;
  };
  readonly store: { readonly url: string };
  readonly tenancy: {
    readonly paths: readonly PathTemplate[];
    readonly exclude: ReadonlySet<string>;
    readonly source: TenantSource | undefined;
    readonly widespreadThreshold: number;
  };
  readonly assess: AssessThresholds;
  readonly posture: PostureThresholds & {
    /** `{tenant}-app`: how a role name says its tenant (see docs/policies.md). */
    readonly tenantRoleTemplate: string | undefined;
    readonly breakGlassPolicies: readonly string[];
  };
  /** Suspects named in the config (`suspects:`), added to every --suspect. */
  readonly suspects: readonly string[];
  /** Secrets to rotate, limits and targets; file paths in it are resolved against the config file. */
  readonly rotation: RotationConfig;
  /** Tenant notices; file paths in it are resolved against the config file. */
  readonly notify: NotifyConfig | undefined;
  /** `watch` settings; file paths in it are resolved against the config file. */
  readonly watch: Readonly<WatchConfigFile>;
  readonly lab: { readonly file: string } | undefined;
  readonly logLevel: ConfigFile['log']['level'];
}

export interface AssessThresholds {
  readonly manyTenants: number;
  readonly loginBurstCount: number;
  readonly loginBurstWithinMs: number;
  readonly maxTokenTtlSeconds: number;
  /** `display-name:` / `role:` entries that `--scope conservative` leaves out. */
  readonly allowActors: readonly string[];
}

export interface PostureThresholds {
  readonly maxTokenTtlSeconds: number;
  readonly maxMountTtlSeconds: number;
  readonly maxKeyringAgeMs: number;
  readonly maxIngestLagMs: number;
  /** A TLS certificate ending within this is a finding (medium), within `tlsCertHighMs` high. */
  readonly tlsCertWarnMs: number;
  readonly tlsCertHighMs: number;
}

/** Where the token came from; the token itself is kept apart from the config object. */
export interface Credentials {
  readonly token: string | undefined;
  readonly tokenSource: 'flag' | 'BAO_TOKEN' | 'VAULT_TOKEN' | 'token_file' | 'lab' | 'token_helper' | 'none';
}

export const DEFAULT_ADDRESS = 'http://127.0.0.1:8200';
export const DEFAULT_STORE = '.sealwatch/sealwatch.db';
export const DEFAULT_CONFIG_FILE = 'sealwatch.yaml';

/** Reads and validates the YAML file (if any) and merges environment and flags over it. */
export function loadConfig(flags: GlobalFlags, env: Env = process.env, cwd = process.cwd()): Config {
  const explicit = flags.config ?? env['SEALWATCH_CONFIG'];
  const file = explicit
    ? resolve(cwd, explicit)
    : existsSync(resolve(cwd, DEFAULT_CONFIG_FILE))
      ? resolve(cwd, DEFAULT_CONFIG_FILE)
      : undefined;
  const parsed = file ? readConfigFile(file) : configFileSchema.parse({});
  const base = file ? dirname(file) : cwd;
  const relative = (p: string) => (isAbsolute(p) ? p : resolve(base, p));

  const addresses = pickAddresses(flags, env, parsed);
  const storeUrl = flags.store ?? env['SEALWATCH_STORE'] ?? parsed.store.url;
  const config: Config = {
    file,
    vault: {
      addresses: addresses.list,
      addressSource: addresses.source,
      overriddenAddresses:
        addresses.source !== 'config' && parsed.vault.addresses
          ? parsed.vault.addresses.map(stripSlash)
          : undefined,
      timeoutMs: parsed.vault.timeout_ms,
      retries: parsed.vault.retries,
      maxConnections: parsed.vault.max_connections,
      namespace: parsed.vault.namespace ?? env['BAO_NAMESPACE'] ?? env['VAULT_NAMESPACE'],
      caFile: parsed.vault.tls.ca_file
        ? relative(parsed.vault.tls.ca_file)
        : (env['BAO_CACERT'] ?? env['VAULT_CACERT']),
      insecureSkipVerify: parsed.vault.tls.insecure_skip_verify,
      tokenFile: parsed.vault.token_file ? relative(parsed.vault.token_file) : undefined,
    },
    store: { url: resolveStoreUrl(storeUrl, flags.store || env['SEALWATCH_STORE'] ? cwd : base) },
    tenancy: {
      paths: parsed.tenancy.paths.map(mustParsePathTemplate),
      exclude: new Set(parsed.tenancy.exclude),
      source: parsed.tenancy.source && normaliseSource(parsed.tenancy.source, relative),
      widespreadThreshold: parsed.tenancy.widespread_threshold,
    },
    assess: {
      manyTenants: parsed.assess.many_tenants_threshold,
      loginBurstCount: parsed.assess.login_burst.count,
      loginBurstWithinMs: parseDuration(parsed.assess.login_burst.within)!,
      maxTokenTtlSeconds: parseDuration(parsed.assess.max_token_ttl)! / 1000,
      allowActors: parsed.assess.allow_actors,
    },
    posture: {
      tenantRoleTemplate: parsed.posture.tenant_role_template,
      breakGlassPolicies: parsed.posture.break_glass_policies,
      maxTokenTtlSeconds: parseDuration(parsed.posture.max_token_ttl)! / 1000,
      maxMountTtlSeconds: parseDuration(parsed.posture.max_mount_ttl)! / 1000,
      maxKeyringAgeMs: parseDuration(parsed.posture.max_keyring_age)!,
      maxIngestLagMs: parseDuration(parsed.posture.max_ingest_lag)!,
      tlsCertWarnMs: parseDuration(parsed.posture.tls_cert_warn)!,
      tlsCertHighMs: parseDuration(parsed.posture.tls_cert_high)!,
    },
    suspects: parsed.suspects,
    rotation: resolveRotationPaths(parsed.rotation, relative),
    notify: parsed.notify ? resolveNotifyPaths(parsed.notify, relative) : undefined,
    watch: resolveWatchPaths(parsed.watch, relative),
    lab: parsed.lab ? { file: relative(parsed.lab.file) } : undefined,
    logLevel: envLogLevel(env) ?? parsed.log.level,
  };
  return deepFreeze(config);
}

function envLogLevel(
  env: Readonly<Record<string, string | undefined>>,
): ConfigFile['log']['level'] | undefined {
  const value = env['SEALWATCH_LOG_LEVEL'];
  if (value === undefined || value === '') return undefined;
  const level = logLevelSchema.safeParse(value);
  if (!level.success)
    throw new ConfigError(
      `SEALWATCH_LOG_LEVEL must be one of ${logLevelSchema.options.join(', ')} (it is ${value})`,
    );
  return level.data;
}

/** Finds the token: flag, BAO_TOKEN, VAULT_TOKEN, the config's token file, the lab file, ~/.vault-token. */
export function loadCredentials(config: Config, flags: GlobalFlags, env: Env = process.env): Credentials {
  if (flags.token) return { token: flags.token, tokenSource: 'flag' };
  if (env['BAO_TOKEN']) return { token: env['BAO_TOKEN'], tokenSource: 'BAO_TOKEN' };
  if (env['VAULT_TOKEN']) return { token: env['VAULT_TOKEN'], tokenSource: 'VAULT_TOKEN' };
  const { tokenFile } = config.vault;
  if (tokenFile) return { token: readSecretFile(tokenFile, 'vault.token_file'), tokenSource: 'token_file' };
  if (config.lab) {
    const token = readLabToken(config.lab.file);
    if (token) return { token, tokenSource: 'lab' };
  }
  const helper = resolve(env['HOME'] ?? homedir(), '.vault-token');
  if (existsSync(helper))
    return { token: readSecretFile(helper, 'token helper'), tokenSource: 'token_helper' };
  return { token: undefined, tokenSource: 'none' };
}

function readConfigFile(file: string): ConfigFile {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (error) {
    throw new ConfigError(`config file ${file} cannot be read: ${describeSystemError(error)}`);
  }
  // prettyErrors computes the line and column of each error.
  const doc = parseDocument(text, { prettyErrors: true });
  const yamlError = doc.errors[0];
  if (yamlError) {
    const line = yamlError.linePos?.[0];
    throw new ConfigError(
      `config file ${file}${line ? `:${line.line}:${line.col}` : ''} is not valid YAML: ${yamlError.message.split('\n')[0]?.replace(/ at line \d+, column \d+:?$/, '')}`,
    );
  }
  const raw: unknown = doc.toJS() ?? {};
  const result = configFileSchema.safeParse(raw);
  if (!result.success) throw new ConfigError(describeIssue(file, result.error.issues));
  return result.data;
}

function describeIssue(file: string, issues: z.core.$ZodIssue[]): string {
  const issue = issues[0];
  if (!issue) return `config file ${file} is invalid`;
  const key = issue.path.map(String).join('.') || '(top level)';
  const more =
    issues.length > 1 ? ` (and ${issues.length - 1} more problem${issues.length > 2 ? 's' : ''})` : '';
  if (issue.code === 'unrecognized_keys') {
    const where = key === '(top level)' ? '' : `${key}.`;
    return `config file ${file}: unknown key ${issue.keys.map((k) => `"${where}${k}"`).join(', ')}${more}`;
  }
  return `config file ${file}: ${key}: ${issue.message}${more}`;
}

function pickAddresses(
  flags: GlobalFlags,
  env: Env,
  parsed: ConfigFile,
): { list: string[]; source: Config['vault']['addressSource'] } {
  const fromList = (text: string, source: Config['vault']['addressSource']) => {
    const list = text
      .split(',')
      .map((a) => a.trim())
      .filter(Boolean)
      .map((a) => validateAddress(a, source));
    if (list.length === 0) throw new ConfigError(`${source === 'flag' ? '--addr' : source} is empty`);
    return { list, source };
  };
  const configured = parsed.vault.addresses?.map(stripSlash);
  if (flags.addr) return fromList(flags.addr, 'flag');
  const envName = env['BAO_ADDR'] ? 'BAO_ADDR' : env['VAULT_ADDR'] ? 'VAULT_ADDR' : undefined;
  if (envName) {
    const fromEnv = fromList(env[envName]!, envName);
    // BAO_ADDR naming one node of the configured cluster only says which node to try first.
    if (configured && fromEnv.list.every((a) => configured.includes(a)))
      return {
        list: [...fromEnv.list, ...configured.filter((a) => !fromEnv.list.includes(a))],
        source: 'config',
      };
    return fromEnv;
  }
  if (configured) return { list: configured, source: 'config' };
  return { list: [DEFAULT_ADDRESS], source: 'default' };
}

function validateAddress(address: string, source: string): string {
  let url: URL;
  try {
    url = new URL(address);
  } catch {
    throw new ConfigError(
      `${source === 'flag' ? '--addr' : source}: "${address}" is not a URL (http://host:port)`,
    );
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:')
    throw new ConfigError(`${source === 'flag' ? '--addr' : source}: "${address}" must use http or https`);
  return stripSlash(address);
}

const stripSlash = (address: string) => address.replace(/\/+$/, '');

function resolveStoreUrl(url: string | undefined, base: string): string {
  if (!url) return resolve(base, DEFAULT_STORE);
  if (/^postgres(ql)?:\/\//.test(url)) return url;
  if (url.startsWith('sqlite:')) return resolve(base, url.slice('sqlite:'.length));
  if (/^[a-z]+:\/\//i.test(url))
    throw new ConfigError(`store URL "${redactUrl(url)}" is neither a SQLite file path nor postgres://…`);
  return resolve(base, url);
}

/** Files named in rotation targets are relative to the config file, like every other path in it. */
function resolveRotationPaths(rotation: RotationConfig, relative: (p: string) => string): RotationConfig {
  const ref = <T extends { file: string } | { env: string }>(r: T): T =>
    'file' in r ? { ...r, file: relative(r.file) } : r;
  const { ssh, dkim, postgres, smtp } = rotation.targets;
  return {
    ...rotation,
    targets: {
      ...rotation.targets,
      ssh:
        ssh.mode === 'authorized-keys' && ssh.via
          ? { ...ssh, via: { ...ssh.via, private_key_file: relative(ssh.via.private_key_file) } }
          : ssh,
      dkim:
        dkim.mode === 'records-file'
          ? { ...dkim, file: relative(dkim.file) }
          : dkim.mode === 'rfc2136'
            ? { ...dkim, tsig: { ...dkim.tsig, secret: ref(dkim.tsig.secret) } }
            : dkim,
      postgres:
        postgres.mode === 'alter-role' ? { ...postgres, admin_url: ref(postgres.admin_url) } : postgres,
      apikey: rotation.targets.apikey.issued_keys_file
        ? { ...rotation.targets.apikey, issued_keys_file: relative(rotation.targets.apikey.issued_keys_file) }
        : rotation.targets.apikey,
      smtp:
        smtp.mode === 'webhook' && smtp.signing_key ? { ...smtp, signing_key: ref(smtp.signing_key) } : smtp,
    },
  };
}

function normaliseSource(source: TenantSource, relative: (p: string) => string): TenantSource {
  return source.kind === 'file' ? { kind: 'file', file: relative(source.file) } : source;
}

function readSecretFile(file: string, what: string): string {
  try {
    const token = readFileSync(file, 'utf8').trim();
    if (!token) throw new ConfigError(`${what} ${file} is empty`);
    return token;
  } catch (error) {
    if (error instanceof ConfigError) throw error;
    throw new ConfigError(`${what} ${file} cannot be read: ${describeSystemError(error)}`);
  }
}

function readLabToken(file: string): string | undefined {
  if (!existsSync(file)) return undefined;
  try {
    const lab = JSON.parse(readFileSync(file, 'utf8')) as { root_token?: unknown };
    return typeof lab.root_token === 'string' ? lab.root_token : undefined;
  } catch {
    throw new ConfigError(`lab file ${file} is not valid JSON`);
  }
}

/** Hides the password part of a URL before it goes into a message. */
export function redactUrl(url: string): string {
  return url.replace(/\/\/([^:/@]+):([^@]*)@/, '//$1:***@');
}

function deepFreeze<T>(value: T): T {
  if (value && typeof value === 'object' && !Object.isFrozen(value) && !(value instanceof Set)) {
    Object.freeze(value);
    for (const inner of Object.values(value)) deepFreeze(inner);
  }
  return value;
}
