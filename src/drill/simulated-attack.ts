import { labClient } from '../lab/lab.service.js';
import type { LabFile } from '../lab/lab-file.js';
import { LAB_KV_MOUNT } from '../lab/layout.js';
import type { Logger } from '../logging/logger.js';
import { PermissionDeniedError } from '../vault/errors.js';

export interface AttackPlan {
  /** Tenants whose SMTP and DKIM secrets the attacker reads (the mailer role allows it). */
  read: string[];
  /** Tenants whose API keys and database credentials it probes (refused by policy). */
  probe: string[];
}

export interface AttackResult {
  /** The stolen token's accessor, as the audit log shows it. */
  accessor: string;
  role: string;
  reads: number;
  denied: number;
  tenantsRead: string[];
}

/**
 * What the drill's attacker does on the lab: logs in with the mailer application's AppRole
 * credentials (a stolen secret ID), reads the SMTP and DKIM secrets of some tenants and probes
 * others' API keys and database credentials, which its policy refuses. Everything goes through
 * the real API, so the audit device records it as it would record a real intruder.
 */
export async function simulateAttack(lab: LabFile, plan: AttackPlan, logger: Logger): Promise<AttackResult> {
  const app = lab.apps.find((a) => a.role === 'mailer');
  if (!app) throw new Error('the lab has no mailer application to steal credentials from');
  const client = labClient(lab.nodes, undefined, logger);
  try {
    const login = await client.write(
      'auth/approle/login',
      { role_id: app.role_id, secret_id: app.secret_id },
      { token: null },
    );
    const auth = login!.auth!;
    client.setToken(auth.client_token);
    const kv = client.kv(LAB_KV_MOUNT);
    let reads = 0;
    let denied = 0;
    for (const tenant of plan.read)
      for (const secret of ['smtp', 'dkim']) {
        await kv.read(`tenants/${tenant}/${secret}`);
        reads++;
      }
    for (const tenant of plan.probe)
      for (const path of [`api_keys/${tenant}/key-1`, `tenants/${tenant}/database`]) {
        try {
          await kv.read(path);
        } catch (error) {
          if (!(error instanceof PermissionDeniedError)) throw error;
          denied++;
        }
      }
    return { accessor: auth.accessor, role: app.role, reads, denied, tenantsRead: [...plan.read] };
  } finally {
    await client.close();
  }
}
