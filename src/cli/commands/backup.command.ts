import { dirname, join, resolve } from 'node:path';
import { Command } from 'commander';
import { createBackups, type VerifyReport } from '../../backup/backup.service.js';
import { UsageError } from '../../errors.js';
import { readLabFile } from '../../lab/lab-file.js';
import { readKeySharesFile, readKeySharesStream } from '../../respond/key-shares.js';
import { isPostgresUrl } from '../../store/store.js';
import type { CliContext } from '../context.js';
import { EXIT } from '../exit-codes.js';
import type { CommandRunner } from '../runner.js';
import { examples } from '../help.js';

interface SnapshotFlags {
  out?: string;
  dir?: string;
}

interface VerifyFlags {
  unsealKeysFile?: string;
  unsealKeysStdin: boolean;
}

/** Beside the store: `<store dir>/backups` (a PostgreSQL store: `.sealwatch/backups`). */
function defaultBackupDir(ctx: CliContext): string {
  const url = ctx.config().store.url;
  return isPostgresUrl(url) ? resolve('.sealwatch', 'backups') : join(dirname(url), 'backups');
}

/** The original cluster's shares: the flags, else (on a lab) lab.json, the lab's key holders. */
async function originalShares(ctx: CliContext, flags: VerifyFlags): Promise<string[]> {
  if (flags.unsealKeysFile && flags.unsealKeysStdin)
    throw new UsageError('give --unseal-keys-file or --unseal-keys-stdin, not both');
  if (flags.unsealKeysFile) return readKeySharesFile(flags.unsealKeysFile);
  if (flags.unsealKeysStdin) return readKeySharesStream(process.stdin);
  const labFile = ctx.config().lab?.file;
  if (labFile) return readLabFile(dirname(labFile)).unseal_keys;
  throw new UsageError(
    'backup verify needs the unseal key shares of the cluster the snapshot came from: --unseal-keys-file F (one per line) or --unseal-keys-stdin',
  );
}

export function backupCommand(run: CommandRunner): Command {
  const backup = new Command('backup').description(
    'raft snapshots with checksum and baseline, and restore drills that prove they work',
  );

  backup
    .command('snapshot')
    .description(
      'take a raft snapshot (streamed to a 0600 file, SHA-256 computed on the way) and record it with a baseline to verify against',
    )
    .option('--out <file>', 'snapshot file (never overwritten); default <dir>/<id>.snap')
    .option('--dir <dir>', 'directory for the default file name (default: backups/ beside the store)')
    .addHelpText(
      'after',
      examples('sealwatch backup snapshot', 'sealwatch backup snapshot --dir /var/backups/openbao --json'),
    )
    .action(
      run(async (ctx: CliContext, flags: SnapshotFlags) => {
        const store = await ctx.store();
        const backups = createBackups({
          vault: ctx.vault(),
          store,
          logger: ctx.logger.child({ component: 'backup' }),
          progress: (m) => ctx.progress(m),
        });
        const record = await backups.snapshot({
          ...(flags.out ? { out: flags.out } : {}),
          dir: flags.dir ? resolve(flags.dir) : defaultBackupDir(ctx),
        });
        if (ctx.json) return ctx.out.json(record);
        ctx.out.line(`snapshot ${record.id}: ${record.file}`);
        ctx.out.table([
          {
            bytes: record.bytes,
            sha256: record.sha256,
            cluster: record.cluster_name,
            leader: record.leader_address,
            version: `${record.server_flavor} ${record.server_version}`,
          },
        ]);
        const b = record.baseline;
        ctx.out.line(
          `baseline: ${b.policies} policies, ${b.auth_mounts} auth mounts, ${b.secret_mounts} secret mounts, ${b.kv_sample.length} KV secrets sampled (versions only)`,
        );
      }),
    );

  backup
    .command('verify <file>')
    .description(
      'disaster-recovery drill: check the file offline, restore it into a throwaway OpenBao, unseal it with the original shares, compare with its baseline',
    )
    .option('--unseal-keys-file <file>', "the original cluster's unseal key shares, one per line")
    .option('--unseal-keys-stdin', 'read the key shares from standard input', false)
    .addHelpText(
      'after',
      examples('sealwatch backup verify /var/backups/openbao/latest.snap --unseal-keys-file keys.txt'),
    )
    .action(
      run(async (ctx: CliContext, flags: VerifyFlags, file?: string) => {
        const shares = await originalShares(ctx, flags);
        const store = await ctx.store();
        const backups = createBackups({
          store,
          logger: ctx.logger.child({ component: 'backup' }),
          progress: (m) => ctx.progress(m),
        });
        const controller = new AbortController();
        const stop = () => {
          ctx.progress('interrupted: stopping the throwaway server');
          controller.abort();
        };
        process.once('SIGINT', stop);
        process.once('SIGTERM', stop);
        try {
          const report = await backups.verify(file!, { shares, signal: controller.signal });
          renderReport(ctx, report);
          return report.ok ? EXIT.ok : EXIT.failure;
        } finally {
          process.off('SIGINT', stop);
          process.off('SIGTERM', stop);
        }
      }),
    );

  backup
    .command('list')
    .description('recorded snapshots, newest first, with their latest drill')
    .addHelpText('after', examples('sealwatch backup list --json'))
    .action(
      run(async (ctx: CliContext) => {
        const store = await ctx.store();
        const rows = await Promise.all(
          (await store.backups.list()).map(async (b) => {
            const latest = (await store.backups.verificationsOf(b.sha256))[0];
            return {
              id: b.id,
              taken_at: b.taken_at,
              file: b.file,
              bytes: b.bytes,
              sha256: b.sha256,
              cluster_name: b.cluster_name,
              verified: latest ? latest.ok : null,
              verified_at: latest?.finished_at ?? null,
            };
          }),
        );
        if (ctx.json) return ctx.out.json({ backups: rows });
        ctx.out.table(
          rows.map((r) => ({
            id: r.id,
            taken: r.taken_at,
            bytes: r.bytes,
            verified:
              r.verified === null ? 'never' : r.verified ? `ok ${r.verified_at}` : `FAILED ${r.verified_at}`,
            file: r.file,
          })),
        );
      }),
    );
  backup.addHelpText(
    'after',
    examples('sealwatch backup snapshot', 'sealwatch backup verify /var/backups/openbao/latest.snap'),
  );
  return backup;
}

function renderReport(ctx: CliContext, report: VerifyReport): void {
  if (ctx.json) return ctx.out.json(report);
  ctx.out.line(
    `${report.ok ? 'verified' : 'FAILED'}: ${report.file} (sha256 ${report.sha256}${report.backup_id ? `, backup ${report.backup_id}` : ''})`,
  );
  ctx.out.table(report.checks.map((c) => ({ check: c.id, ok: c.ok ? 'ok' : 'FAIL', detail: c.detail })));
  ctx.out.table(Object.entries<number>(report.seconds).map(([phase, seconds]) => ({ phase, seconds })));
}
