import type { PostureCheck, PostureContext, PostureFinding } from '../check.js';
import { refusal } from '../refusal.js';
import { sanitizedConfigFor } from '../server-config.js';
import type { AuditDevice } from '../../vault/types.js';

const check = { id: 'audit-devices', area: 'audit' } as const;
const raised = { check: check.id, area: check.area } as const;

const FILE_STANZA = (path: string) =>
  `audit "file" "${path.replace(/\/$/, '')}" {\n  options {\n    file_path = "/var/log/openbao/audit.log"\n  }\n}`;

/**
 * The audit devices: at least two, no lone socket device (a failing device blocks the server),
 * no raw logging, HMAC'd accessors, every device declared in the configuration, and the store
 * still ingesting the log.
 */
export const auditDevicesCheck: PostureCheck = {
  ...check,
  title: 'audit devices and audit-log ingestion',
  async run(ctx) {
    const [devices, ingest] = await Promise.all([deviceFindings(ctx), ingestFindings(ctx)]);
    return [...devices, ...ingest];
  },
};

async function deviceFindings(ctx: PostureContext): Promise<PostureFinding[]> {
  let devices: AuditDevice[];
  try {
    devices = await ctx.vault.listAuditDevices();
  } catch (error) {
    return [refusal(check, 'the audit devices', { capability: 'sudo', path: 'sys/audit' }, error)];
  }
  const findings: PostureFinding[] = [];
  const listed = devices.map((d) => ({ path: d.path, type: d.type }));
  if (devices.length === 0)
    findings.push({
      id: 'audit-devices:none',
      ...raised,
      severity: 'critical',
      title: 'no audit device is enabled',
      evidence: { devices: listed },
      why: 'without an audit device nothing records who read which secret: a breach cannot be scoped',
      fix: FILE_STANZA('file'),
    });
  else if (devices.length === 1 && devices[0]!.type === 'socket')
    findings.push({
      id: 'audit-devices:lone-socket',
      ...raised,
      severity: 'high',
      title: `the only audit device is a socket device (${devices[0]!.path})`,
      evidence: { devices: listed },
      why: 'OpenBao refuses every request no audit device records: when the socket receiver stops, the server stops answering',
      fix: `${FILE_STANZA('file')}  # a file device beside the socket one`,
    });
  else if (devices.length === 1)
    findings.push({
      id: 'audit-devices:single',
      ...raised,
      severity: 'medium',
      title: `only one audit device is enabled (${devices[0]!.path})`,
      evidence: { devices: listed },
      why: 'a single device is a single point of failure twice: when it fails the server blocks, and its log is the only record',
      fix: `${FILE_STANZA('file-2')}  # a second device, shipped elsewhere`,
    });
  for (const device of devices) {
    if (device.options['log_raw'] === 'true')
      findings.push({
        id: `audit-devices:log-raw:${device.path}`,
        ...raised,
        severity: 'high',
        title: `audit device ${device.path} logs secrets in clear (log_raw)`,
        evidence: { device: device.path, type: device.type, log_raw: device.options['log_raw'] },
        why: 'with log_raw every secret read or written is in the audit log unhashed: the log becomes a copy of the vault',
        fix: `remove log_raw = "true" from the audit "${device.type}" "${device.path.replace(/\/$/, '')}" stanza and reload`,
      });
    if (device.options['hmac_accessor'] === 'false')
      findings.push({
        id: `audit-devices:hmac-accessor-off:${device.path}`,
        ...raised,
        severity: 'medium',
        title: `audit device ${device.path} writes token accessors in clear (hmac_accessor off)`,
        evidence: { device: device.path, type: device.type, hmac_accessor: device.options['hmac_accessor'] },
        why: 'an accessor is enough to look up and revoke a token, and to read its policies: a log reader gets that power',
        fix: `remove hmac_accessor = "false" from the audit "${device.type}" "${device.path.replace(/\/$/, '')}" stanza and reload`,
      });
  }
  findings.push(...(await declaredFindings(ctx, devices)));
  return findings;
}

/** OpenBao 2.4+ declares audit devices in the configuration; one enabled through the API is not. */
async function declaredFindings(ctx: PostureContext, devices: AuditDevice[]): Promise<PostureFinding[]> {
  const read = await sanitizedConfigFor(ctx, check, 'which audit devices the server configuration declares');
  if ('refused' in read) return [read.refused];
  const { config } = read;
  const declared = new Set((config.audits ?? []).map((a) => a.path));
  const findings: PostureFinding[] = devices
    .filter((d) => !declared.has(d.path))
    .map((d) => ({
      id: `audit-devices:undeclared:${d.path}`,
      ...raised,
      severity: 'medium',
      title: `audit device ${d.path} is not declared in the server configuration`,
      evidence: { device: d.path, type: d.type, declared: [...declared] },
      why: 'a device created through the API can be disabled through the API by whoever holds sudo on sys/audit, and differs between nodes',
      fix: `declare it: audit "${d.type}" "${d.path.replace(/\/$/, '')}" { options { … } } in every node's configuration`,
    }));
  if (config.unsafe_allow_api_audit_creation)
    findings.push({
      id: 'audit-devices:api-creation-allowed',
      ...raised,
      severity: 'medium',
      title: 'the server lets the API create and remove audit devices (unsafe_allow_api_audit_creation)',
      evidence: { unsafe_allow_api_audit_creation: true },
      why: 'an attacker with sudo can point an audit device at a place they read, or turn auditing off',
      fix: 'unsafe_allow_api_audit_creation = false  # in the server configuration, then restart',
    });
  return findings;
}

async function ingestFindings(ctx: PostureContext): Promise<PostureFinding[]> {
  const { newestEvent, lastCheckpoint } = await ctx.store.auditEvents.ingestFreshness();
  const maxLag = ctx.config.posture.maxIngestLagMs;
  if (newestEvent === undefined)
    return [
      {
        id: 'audit-devices:never-ingested',
        ...raised,
        severity: 'medium',
        title: 'no audit event has ever been ingested into the store',
        evidence: { store_events: 0 },
        why: 'detection, assessment and the usage checks of posture read the store: with nothing in it they see nothing',
        fix: 'sealwatch audit follow /var/log/openbao/audit.log  # or sealwatch audit listen for a socket device',
      },
    ];
  const newest = Math.max(Date.parse(newestEvent), lastCheckpoint ? Date.parse(lastCheckpoint) : 0);
  const lagMs = ctx.now.getTime() - newest;
  if (lagMs <= maxLag) return [];
  return [
    {
      id: 'audit-devices:ingest-stale',
      ...raised,
      severity: 'medium',
      title: `no audit event ingested for ${Math.floor(lagMs / 3_600_000)} h (more than ${maxLag / 3_600_000} h)`,
      evidence: {
        newest_event: newestEvent,
        last_checkpoint: lastCheckpoint ?? null,
        max_ingest_lag_ms: maxLag,
      },
      why: 'the server writes an audit line for every authenticated request (including those of this posture run): a store this far behind has stopped following the log',
      fix: 'sealwatch audit follow /var/log/openbao/audit.log  # restart the follower (or watch)',
    },
  ];
}
