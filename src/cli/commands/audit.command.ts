import { Command, InvalidArgumentError } from 'commander';
import type { AuditPipelineDeps, IngestCounts } from '../../audit/audit-sink.js';
import { followAuditFile } from '../../audit/follow.js';
import { ingestAuditFiles } from '../../audit/ingest.js';
import { listenForAuditEvents } from '../../audit/listen.js';
import type { AuditEventFilter } from '../../store/repositories/audit-events.repository.js';
import { PathTemplateMatcher } from '../../config/path-template.js';
import { toSortableUtc } from '../../util/time.js';
import type { CliContext } from '../context.js';
import { EXIT } from '../exit-codes.js';
import type { CommandRunner } from '../runner.js';
import { pointInTime } from './assess.command.js';
import { positiveInt } from '../arguments.js';
import { examples } from '../help.js';

const seconds = (value: string): number => {
  const n = Number(value);
  if (!Number.isFinite(n) || n <= 0) throw new InvalidArgumentError('must be a positive number of seconds');
  return n;
};

async function pipelineDeps(ctx: CliContext): Promise<AuditPipelineDeps> {
  return {
    store: await ctx.store(),
    matcher: new PathTemplateMatcher(ctx.config().tenancy.paths),
    logger: ctx.logger.child({ component: 'audit' }),
  };
}

/** Stops a long-running command cleanly on Ctrl-C or a service manager's SIGTERM. */
function stopSignal(): { signal: AbortSignal; dispose: () => void } {
  const controller = new AbortController();
  const stop = () => controller.abort();
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
  return {
    signal: controller.signal,
    dispose: () => {
      process.off('SIGINT', stop);
      process.off('SIGTERM', stop);
    },
  };
}

/** The documented `--json` shape, keys in this order whatever the counts object carries. */
const countsJson = (c: IngestCounts) => ({
  lines: c.lines,
  events: c.events,
  duplicates: c.duplicates,
  malformed: c.malformed,
  errors: c.errors.map((e) => ({ file: e.file, line: e.line, reason: e.reason })),
});

function summary(ctx: CliContext, c: IngestCounts, what: string): void {
  ctx.out.line(
    `${what}: ${c.lines} lines, ${c.events} events stored, ${c.duplicates} duplicates, ${c.malformed} malformed`,
  );
  for (const e of c.errors) ctx.out.line(`  ${e.file}:${e.line}: ${e.reason}`);
  if (c.malformed > c.errors.length)
    ctx.out.line(`  … and ${c.malformed - c.errors.length} more malformed lines`);
}

export function auditCommand(run: CommandRunner): Command {
  const audit = new Command('audit').description(
    'the audit event store: ingest, follow and receive audit devices, query',
  );

  audit
    .command('ingest')
    .description(
      'store audit log files (file device JSON lines; - is stdin, .gz is read compressed), deduplicated',
    )
    .argument('<files...>', 'audit log files')
    .addHelpText(
      'after',
      examples(
        'sealwatch audit ingest /var/log/openbao/audit.log',
        'sealwatch audit ingest audit.log.1.gz audit.log --json',
      ),
    )
    .action(
      run(async (ctx: CliContext, _opts: unknown, ...files: string[]) => {
        const deps = await pipelineDeps(ctx);
        const started = Date.now();
        const { counts, failures } = await ingestAuditFiles(
          files,
          { ...deps, stdin: process.stdin },
          {
            onBatch: (c) => {
              if (!ctx.json && c.lines % 100_000 < 5_000) ctx.progress(`… ${c.lines} lines`);
            },
            onFinishing: (c) => {
              if (!ctx.json && c.lines >= 100_000)
                ctx.progress(`… ${c.lines} lines read; building indexes and checkpointing the store`);
            },
          },
        );
        if (ctx.json) ctx.out.json(countsJson(counts));
        else
          summary(
            ctx,
            counts,
            `ingested ${files.length} file(s) in ${((Date.now() - started) / 1000).toFixed(1)} s`,
          );
        // Malformed lines are reported, not fatal; a file that could not be read is.
        for (const failure of failures) ctx.out.error(`sealwatch: ${failure.error.message}`);
        return failures.length > 0 ? EXIT.failure : undefined;
      }),
    );

  audit
    .command('follow')
    .description(
      'tail a file audit device into the store; survives rotation and truncation, resumes after a restart',
    )
    .argument('<file>', 'the file the audit device writes')
    .option('--poll-ms <ms>', 'how often to check the file', positiveInt, 250)
    .option('--max-seconds <s>', 'stop after this long', seconds)
    .option('--until-idle <s>', 'stop once nothing new arrived for this long', seconds)
    .addHelpText('after', examples('sealwatch audit follow /var/log/openbao/audit.log'))
    .action(
      run(
        async (
          ctx: CliContext,
          opts: { pollMs: number; maxSeconds?: number; untilIdle?: number },
          file: string,
        ) => {
          const deps = await pipelineDeps(ctx);
          const stop = stopSignal();
          try {
            const result = await followAuditFile(
              {
                file,
                pollMs: opts.pollMs,
                maxSeconds: opts.maxSeconds,
                untilIdleSeconds: opts.untilIdle,
                signal: stop.signal,
                onNotice: (m) => ctx.progress(m),
              },
              deps,
            );
            if (ctx.json)
              return ctx.out.json({
                ...countsJson(result.counts),
                rotations: result.rotations,
                truncations: result.truncations,
                checkpoint: result.checkpoint ?? null,
                stopped_by: result.stoppedBy,
              });
            summary(ctx, result.counts, `followed ${file} (stopped by ${result.stoppedBy})`);
            if (result.checkpoint)
              ctx.out.line(
                `resumes at line ${result.checkpoint.line + 1} (byte ${result.checkpoint.offset})`,
              );
          } finally {
            stop.dispose();
          }
        },
      ),
    );

  audit
    .command('listen')
    .description('receive a socket audit device (TCP, JSON lines) into the store')
    .requiredOption('--bind <host:port>', 'where to listen, e.g. 127.0.0.1:9090')
    .option('--allow-remote', 'allow a non-loopback bind address', false)
    .option('--max-seconds <s>', 'stop after this long', seconds)
    .addHelpText('after', examples('sealwatch audit listen --bind 127.0.0.1:9090'))
    .action(
      run(async (ctx: CliContext, opts: { bind: string; allowRemote: boolean; maxSeconds?: number }) => {
        const deps = await pipelineDeps(ctx);
        const stop = stopSignal();
        try {
          const result = await listenForAuditEvents(
            {
              bind: opts.bind,
              allowRemote: opts.allowRemote,
              maxSeconds: opts.maxSeconds,
              signal: stop.signal,
              onListening: (a) => ctx.progress(`listening on ${a.host}:${a.port}`),
              onNotice: (m) => ctx.progress(m),
            },
            deps,
          );
          if (ctx.json)
            return ctx.out.json({ ...countsJson(result.counts), connections: result.connections });
          summary(ctx, result.counts, `received from ${result.connections} connection(s)`);
        } finally {
          stop.dispose();
        }
      }),
    );

  audit
    .command('query')
    .description('events from the store, oldest first')
    .option('--since <when>', 'a duration back from now (24h) or an ISO time', (v: string) => pointInTime(v))
    .option('--until <when>', 'a duration back from now or an ISO time', (v: string) => pointInTime(v))
    .option('--path-prefix <prefix>', 'paths starting with this (API form, e.g. secret/data/tenants/)')
    .option('--operation <op>', 'read, update, create, delete, list, …')
    .option('--accessor <accessor>', 'token accessor (as logged: clear or hmac-sha256:…)')
    .option('--remote-address <ip>', 'client address')
    .option('--tenant <tenant>', 'tenant, by the configured path templates')
    .option('--errors', 'only failed requests', false)
    .option('--limit <n>', 'at most this many events', positiveInt, 100)
    .addHelpText(
      'after',
      examples(
        'sealwatch audit query --since 1h --path-prefix secret/data/tenants/ --errors',
        'sealwatch audit query --remote-address 203.0.113.7 --limit 50 --json',
      ),
    )
    .action(
      run(async (ctx: CliContext, opts: QueryOptions) => {
        const store = await ctx.store();
        const filter: AuditEventFilter = {
          since: opts.since && toSortableUtc(opts.since.toISOString()),
          until: opts.until && toSortableUtc(opts.until.toISOString()),
          pathPrefix: opts.pathPrefix,
          operation: opts.operation,
          accessor: opts.accessor,
          remoteAddress: opts.remoteAddress,
          tenant: opts.tenant,
          errorsOnly: opts.errors,
          limit: opts.limit,
        };
        const events = await store.auditEvents.query(filter);
        if (ctx.json) return ctx.out.json(events);
        ctx.out.table(
          events.map((e) => ({
            time: e.time.replace(/\.(\d{3})\d{6}Z$/, '.$1Z'),
            type: e.type,
            operation: e.operation,
            path: e.path,
            tenant: e.tenant,
            caller: e.display_name,
            accessor: e.accessor,
            remote: e.remote_address,
            error: e.error?.replace(/\s+/g, ' ').trim(),
          })),
          ['time', 'type', 'operation', 'path', 'tenant', 'caller', 'accessor', 'remote', 'error'],
        );
        ctx.out.line(
          events.length === opts.limit
            ? `${events.length} events (limit reached: narrow the filter or raise --limit)`
            : `${events.length} events`,
        );
      }),
    );
  audit.addHelpText(
    'after',
    examples(
      'sealwatch audit ingest /var/log/openbao/audit.log',
      'sealwatch audit query --since 1h --errors',
    ),
  );
  return audit;
}

interface QueryOptions {
  since?: Date;
  until?: Date;
  pathPrefix?: string;
  operation?: string;
  accessor?: string;
  remoteAddress?: string;
  tenant?: string;
  errors: boolean;
  limit: number;
}
