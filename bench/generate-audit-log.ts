/**
 * Writes a large, realistic OpenBao file-audit-device log: request/response pairs shaped exactly
 * like OpenBao 2.7.2's (see test/fixtures/audit/openbao-2.7.2.jsonl), many tenants, applications
 * reading through AppRole tokens, operators writing through userpass, logins, sys/ reads by root,
 * HMAC'd values everywhere the device puts them, and a few percent of denied requests.
 * Deterministic for a given seed, so runs compare.
 *
 * Standalone: `npm run bench -- generate-audit-log --lines 1000000 --out /tmp/audit.log`
 */
import { createWriteStream } from 'node:fs';
import { once } from 'node:events';
import { parseArgs } from 'node:util';

export interface GenerateOptions {
  file: string;
  lines: number;
  tenants?: number;
  seed?: number;
  /** Time of the first entry (ms since the epoch). */
  start?: number;
}

export interface GenerateResult {
  lines: number;
  bytes: number;
  errors: number;
}

const SECRET_KINDS = ['smtp', 'dkim', 'ssh', 'database', 'profile'] as const;
const FIELDS: Record<(typeof SECRET_KINDS)[number], string[]> = {
  smtp: ['host', 'password', 'port', 'username'],
  dkim: ['domain', 'private_key', 'public_key', 'selector'],
  ssh: ['private_key', 'public_key', 'username'],
  database: ['dsn', 'password', 'username'],
  profile: ['contact_email', 'domain', 'name'],
};

/** xorshift32: fast and deterministic; statistical quality does not matter here. */
function rng(seed: number): () => number {
  let x = seed >>> 0 || 1;
  return () => {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    return x / 4294967296;
  };
}

export async function generateAuditLog(options: GenerateOptions): Promise<GenerateResult> {
  const random = rng(options.seed ?? 42);
  const pick = <T>(list: readonly T[]): T => list[Math.floor(random() * list.length)]!;
  const hex = (n: number) => {
    let s = '';
    while (s.length < n)
      s += Math.floor(random() * 4294967296)
        .toString(16)
        .padStart(8, '0');
    return s.slice(0, n);
  };
  const hmacPool = Array.from({ length: 8192 }, () => `hmac-sha256:${hex(64)}`);
  const hmac = () => pick(hmacPool);
  const tenants = Array.from(
    { length: options.tenants ?? 5000 },
    (_, i) => `tenant-${String(i + 1).padStart(4, '0')}`,
  );
  const addresses = Array.from({ length: 64 }, (_, i) => `10.${20 + (i % 4)}.${Math.floor(i / 4)}.${10 + i}`);
  const actor = (display: string, policies: string[], meta: string | undefined, entity: boolean) => ({
    token: hmac(),
    accessor: hex(24),
    display,
    policies: JSON.stringify(policies),
    meta,
    entity: entity ? `${hex(8)}-${hex(4)}-${hex(4)}-${hex(4)}-${hex(12)}` : undefined,
    clientId: Buffer.from(hex(32), 'hex').toString('base64'),
  });
  const apps = Array.from({ length: 40 }, (_, i) =>
    actor(
      'approle',
      ['default', i % 2 ? 'billing' : 'mailer'],
      `{"role_name":"${i % 2 ? 'billing' : 'mailer'}"}`,
      true,
    ),
  );
  const operators = Array.from({ length: 12 }, (_, i) =>
    actor(`userpass-op${i}`, ['default', 'operator'], `{"username":"op${i}"}`, true),
  );
  const root = actor('root', ['root'], undefined, false);

  const out = createWriteStream(options.file, { highWaterMark: 4 * 1024 * 1024 });
  let time = options.start ?? Date.parse('2026-03-01T00:00:00Z');
  let written = 0;
  let bytes = 0;
  let errors = 0;
  let buffer = '';

  const authBlock = (a: ReturnType<typeof actor>, allowed: boolean) =>
    `"auth":{"client_token":"${a.token}","accessor":"${a.accessor}","display_name":"${a.display}","policies":${a.policies},"token_policies":${a.policies},"policy_results":{"allowed":${allowed}${allowed ? `,"granting_policies":[{"name":${JSON.stringify((JSON.parse(a.policies) as string[]).at(-1))},"namespace_id":"root","type":"acl"}]` : ''}},${a.meta ? `"metadata":${a.meta},` : ''}${a.entity ? `"entity_id":"${a.entity}",` : ''}"token_type":"service","token_ttl":3600,"token_issue_time":"2026-03-01T00:00:00Z"}`;

  while (written < options.lines) {
    const roll = random();
    const id = `${hex(8)}-${hex(4)}-${hex(4)}-${hex(4)}-${hex(12)}`;
    const address = pick(addresses);
    const port = 30000 + Math.floor(random() * 30000);
    let caller = pick(apps);
    let operation = 'read';
    let path: string;
    let mount = `"mount_point":"secret/","mount_type":"kv","mount_accessor":"kv_dd025743","mount_running_version":"v2.7.2+builtin.bao","mount_class":"secret"`;
    let requestData = '';
    let responseBody: string;
    let error: string | undefined;
    if (roll < 0.7) {
      const kind = pick(SECRET_KINDS);
      path = `secret/data/tenants/${pick(tenants)}/${kind}`;
      const data = FIELDS[kind].map((f) => `"${f}":"${hmac()}"`).join(',');
      responseBody = `"data":{"data":{${data}},"metadata":{"created_time":"${hmac()}","custom_metadata":null,"deletion_time":"${hmac()}","destroyed":false,"version":3}}`;
    } else if (roll < 0.78) {
      caller = pick(operators);
      operation = 'update';
      const kind = pick(SECRET_KINDS);
      path = `secret/data/tenants/${pick(tenants)}/${kind}`;
      requestData = `,"data":{"data":{${FIELDS[kind].map((f) => `"${f}":"${hmac()}"`).join(',')}},"options":{}}`;
      responseBody = `"data":{"created_time":"${hmac()}","custom_metadata":null,"deletion_time":"${hmac()}","destroyed":false,"version":4}`;
    } else if (roll < 0.83) {
      operation = 'read';
      path = `secret/data/api_keys/${pick(tenants)}/key-${Math.floor(random() * 4)}`;
      responseBody = `"data":{"data":{"api_key":"${hmac()}","created":"${hmac()}"}}`;
    } else if (roll < 0.88) {
      operation = 'list';
      path = `secret/metadata/tenants/`;
      responseBody = `"data":{"keys":["${hmac()}","${hmac()}","${hmac()}"]}`;
    } else if (roll < 0.93) {
      operation = 'update';
      path = 'auth/approle/login';
      mount = `"mount_point":"auth/approle/","mount_type":"approle","mount_accessor":"auth_approle_6c2e1f7a","mount_running_version":"v2.7.2+builtin.bao","mount_class":"auth"`;
      requestData = `,"data":{"role_id":"${hmac()}","secret_id":"${hmac()}"}`;
      responseBody = `"auth":{"client_token":"${caller.token}","accessor":"${caller.accessor}","display_name":"approle","policies":${caller.policies},"token_policies":${caller.policies},"metadata":${caller.meta},"entity_id":"${caller.entity}","token_type":"service","token_ttl":3600}`;
    } else if (roll < 0.97) {
      caller = root;
      path = pick(['sys/mounts', 'sys/auth', 'sys/policies/acl', 'sys/storage/raft/configuration']);
      mount = `"mount_point":"sys/","mount_type":"system","mount_accessor":"system_37776227","mount_running_version":"v2.7.2+builtin.bao","mount_class":"secret"`;
      responseBody = `"data":{"accessor":"${hmac()}","description":"${hmac()}","type":"${hmac()}"}`;
    } else {
      // Denied: an application reaching outside its policy.
      path = `secret/data/tenants/${pick(tenants)}/ssh`;
      error = '1 error occurred:\\n\\t* permission denied\\n\\n';
      responseBody = `"data":{"error":"${hmac()}"}`;
      errors += 2;
    }
    const auth = authBlock(caller, error === undefined);
    const request = `"request":{"id":"${id}","client_id":"${caller.clientId}","operation":"${operation}",${mount},"client_token":"${caller.token}","client_token_accessor":"${caller.accessor}","namespace":{"id":"root"},"path":"${path}"${requestData},"remote_address":"${address}","remote_port":${port}}`;
    const t1 = new Date(time)
      .toISOString()
      .replace('Z', `${String(Math.floor(random() * 1e6)).padStart(6, '0')}Z`);
    time += 1 + Math.floor(random() * 3);
    const t2 = new Date(time)
      .toISOString()
      .replace('Z', `${String(Math.floor(random() * 1e6)).padStart(6, '0')}Z`);
    const tail = error ? `,"error":"${error}"` : '';
    buffer += `{"time":"${t1}","type":"request",${auth},${request}${tail}}\n`;
    buffer += `{"time":"${t2}","type":"response",${auth},${request},"response":{${mount.replace('"mount_running_version"', '"mount_running_plugin_version"')},${responseBody}}${tail}}\n`;
    written += 2;
    if (buffer.length > 1 << 20) {
      bytes += Buffer.byteLength(buffer);
      if (!out.write(buffer)) await once(out, 'drain');
      buffer = '';
    }
  }
  bytes += Buffer.byteLength(buffer);
  out.end(buffer);
  await once(out, 'finish');
  return { lines: written, bytes, errors };
}

if (import.meta.url === `file://${process.argv[1]}` || process.argv[2] === 'generate-audit-log') {
  const { values } = parseArgs({
    options: {
      lines: { type: 'string', default: '1000000' },
      tenants: { type: 'string', default: '5000' },
      out: { type: 'string', default: '/tmp/sealwatch-bench-audit.log' },
    },
    allowPositionals: true,
  });
  const result = await generateAuditLog({
    file: values.out,
    lines: Number(values.lines),
    tenants: Number(values.tenants),
  });
  console.log(JSON.stringify({ file: values.out, ...result }));
}
