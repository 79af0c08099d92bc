import { createPrivateKey, createPublicKey } from 'node:crypto';
import { Resolver } from 'node:dns/promises';
import { readCredential } from '../../config/credential.js';
import type { DkimTarget } from '../../config/rotation.schema.js';
import { generateDkimKey, type DkimKey } from '../../secrets/generators.js';
import { RotationError, rotationFailure } from '../rotation.errors.js';
import type { RotationInput, Rotator, SecretData, SecretRef } from '../rotator.js';
import { editKeyFile, localKeyFileStore } from './authorized-keys.js';
import {
  DnsUpdateRefused,
  sendDnsUpdate,
  splitTxt,
  type TsigKey,
  type UpdateChange,
  type UpdatePrerequisite,
} from './dns-update.js';
import { describeSystemError, systemErrorCode, errorMessage } from '../../errors.js';

/**
 * DKIM keys (`{domain, selector, private_key, public_key}`): a new RSA-2048 key is published under
 * a NEW selector, so mail signed with the old key keeps verifying while both records exist. The
 * record goes to the DNS server by an RFC 2136 update signed with TSIG, or, without a DNS target,
 * into a zone-file fragment the operator publishes. Verification resolves the new selector and
 * compares the key; finalize deletes the old selector's record (the engine calls it after the
 * grace period), rollback deletes the new one.
 *
 * In `vault-only` mode nothing is published; verification checks the key pair is consistent.
 */
export interface DkimRotatorDeps {
  /** Where `tsig.secret: {env}` is looked up (process.env by default). */
  env?: Readonly<Record<string, string | undefined>>;
  now?: () => Date;
  /** Per DNS exchange, 10 s by default. */
  timeoutMs?: number;
  /**
   * Where new RSA-2048 keys come from (generated here by default). A benchmark passes a pool made
   * beforehand: key generation is CPU work that would otherwise hide the orchestration it measures.
   */
  generateKey?: (selector: string) => Promise<DkimKey>;
}

const DEFAULT_TIMEOUT_MS = 10_000;

/**
 * `sw<yyyymmddhhmm>` (UTC): readable, sorted by age, and never the selector in use: a second
 * rotation within the same minute gets the next letter (`…a`, `…b`).
 */
export function nextSelector(current: string | undefined, date: Date): string {
  const base = `sw${date.toISOString().replace(/[-:T]/g, '').slice(0, 12)}`;
  const suffix = current?.startsWith(base) ? current.slice(base.length) : undefined;
  if (suffix === undefined) return base;
  if (suffix === '') return `${base}a`;
  if (/^[a-y]$/.test(suffix)) return base + String.fromCharCode(suffix.charCodeAt(0) + 1);
  return `${base}${suffix}a`;
}

/** The TXT value of a DKIM key record. */
export function dkimRecord(publicKey: string): string {
  return `v=DKIM1; k=rsa; p=${publicKey}`;
}

/** The `p=` tag of a DKIM record (whitespace removed, as RFC 6376 §3.6.1 allows folding), or null. */
export function dkimPublicKeyOf(record: string): string | null {
  for (const tag of record.split(';')) {
    const eq = tag.indexOf('=');
    if (eq < 0) continue;
    if (tag.slice(0, eq).trim() === 'p') return tag.slice(eq + 1).replace(/\s+/g, '');
  }
  return null;
}

export function dkimRecordName(selector: string, domain: string): string {
  return `${selector}._domainkey.${domain.replace(/\.$/, '')}`;
}

/** One zone-file line for the operator: `<name>. IN TXT "…" "…"`, the value split into 255-byte strings. */
export function zoneFileLine(name: string, value: string, ttl?: number): string {
  const strings = splitTxt(value).map((s) => `"${s.replace(/["\\]/g, '\\$&')}"`);
  return [`${name}.`, ...(ttl ? [String(ttl)] : []), 'IN', 'TXT', ...strings].join(' ');
}

/** Why the DKIM key pair in `data` is unusable, or null: `public_key` must be the private key's. */
export function dkimKeyPairProblem(data: SecretData): string | null {
  const privateKey = data['private_key'];
  const publicKey = data['public_key'];
  if (!privateKey || !publicKey) return 'the value lacks private_key or public_key';
  try {
    const derived = createPublicKey(createPrivateKey(privateKey)).export({ type: 'spki', format: 'der' });
    return derived.toString('base64') === publicKey.replace(/\s+/g, '')
      ? null
      : 'public_key is not the public half of private_key';
  } catch {
    // The parser's message could quote the input: say only that it failed.
    return 'private_key is not a PEM key';
  }
}

/** What the operator can do about a refusal, from the rcode and the TSIG error. */
export function refusalHint(error: DnsUpdateRefused, keyName: string, zone: string): string {
  switch (error.tsigError) {
    case 'BADKEY':
      return ` (the server has no key named ${keyName} with this algorithm: check tsig.name and tsig.algorithm)`;
    case 'BADSIG':
      return ` (the TSIG secret is not the one the server has for ${keyName})`;
    case 'BADTIME':
      return ' (this clock and the server clock differ by more than 5 minutes)';
  }
  switch (error.rcode) {
    case 'REFUSED':
      return ` (the zone's update policy does not allow ${keyName} to change this name)`;
    case 'NOTAUTH':
    case 'NOTZONE':
      return ` (the server is not the primary for ${zone}: check rotation.targets.dkim.zone and server)`;
  }
  return '';
}

const HOSTNAME =
  /^(?=.{1,253}$)([A-Za-z0-9_]([A-Za-z0-9_-]{0,61}[A-Za-z0-9])?\.)*[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.?$/;

export function createDkimRotator(target: DkimTarget, deps: DkimRotatorDeps = {}): Rotator {
  const now = deps.now ?? (() => new Date());
  const timeoutMs = deps.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  const generateKey = deps.generateKey ?? generateDkimKey;
  const targetName =
    target.mode === 'rfc2136'
      ? `dns:${target.server.host}:${target.server.port}`
      : target.mode === 'records-file'
        ? `records-file:${target.file}`
        : 'vault-only';

  const fail = rotationFailure('dkim', targetName);

  const generate = async (ref: SecretRef, current: SecretData): Promise<SecretData> => {
    const selector = nextSelector(current['selector'], now());
    const key = await generateKey(selector);
    const next: SecretData = { ...current, selector, private_key: key.privateKey, public_key: key.publicKey };
    if ('record' in current) next['record'] = key.record;
    return next;
  };

  /** The record name of one version, after checking the fields that go into DNS names. */
  const recordName = (input: RotationInput, phase: string, data: SecretData, which: 'current' | 'new') => {
    const domain = data['domain'];
    const selector = data['selector'];
    if (!domain || !HOSTNAME.test(domain))
      throw fail(input.ref, phase, `the ${which} value has no valid domain`);
    if (!selector || !/^[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?$/.test(selector))
      throw fail(input.ref, phase, `the ${which} value has no valid selector`);
    return dkimRecordName(selector, domain);
  };

  const keyPair = (input: RotationInput, phase: string) => {
    const problem = dkimKeyPairProblem(input.next);
    if (problem) throw fail(input.ref, phase, problem);
  };

  /** Same selector in both versions (a re-run after the value was made current): nothing to add or retire. */
  const sameSelector = (input: RotationInput) =>
    input.current['selector'] === input.next['selector'] && input.current['domain'] === input.next['domain'];

  /** Before publishing: the new key pair is sound and has a selector of its own (the old record must stay). */
  const newKeyToPublish = (input: RotationInput) => {
    keyPair(input, 'apply');
    if (sameSelector(input))
      throw fail(input.ref, 'apply', 'the new value has the selector in use: a new key needs a new selector');
  };

  if (target.mode === 'vault-only') {
    return {
      kind: 'dkim',
      targetOf: () => 'vault-only',
      generate,
      apply: async () => undefined,
      verify: async (input) => keyPair(input, 'verify'),
      finalize: async () => undefined,
      rollback: async () => undefined,
    };
  }

  if (target.mode === 'records-file') {
    /**
     * Replaces (or removes, with `value` null) the line for `name` in the operator's file, with the
     * same atomic, serialised edit as authorized_keys; every other line is kept as it is.
     */
    const setLine = async (input: RotationInput, phase: string, name: string, value: string | null) => {
      const owner = `${name}.`;
      try {
        await editKeyFile(localKeyFileStore, target.file, (content) => {
          const lines = content === '' ? [] : content.replace(/\n$/, '').split('\n');
          const kept = lines.filter((line) => line.split(/\s+/)[0] !== owner);
          if (value !== null) kept.push(zoneFileLine(name, value));
          return kept.length ? kept.join('\n') + '\n' : '';
        });
      } catch (error) {
        const code = systemErrorCode(error);
        throw fail(input.ref, phase, `${target.file} cannot be written: ${code ?? errorMessage(error)}`);
      }
    };
    return {
      kind: 'dkim',
      targetOf: () => targetName,
      generate,
      apply: async (input) => {
        newKeyToPublish(input);
        const name = recordName(input, 'apply', input.next, 'new');
        await setLine(input, 'apply', name, dkimRecord(input.next['public_key']!));
      },
      verify: async (input) => {
        keyPair(input, 'verify');
        const name = recordName(input, 'verify', input.next, 'new');
        let content = '';
        try {
          content = await localKeyFileStore.read(target.file).then((f) => f?.content ?? '');
        } catch (error) {
          throw fail(input.ref, 'verify', `${target.file} cannot be read: ${systemErrorCode(error)}`);
        }
        if (!content.split('\n').includes(zoneFileLine(name, dkimRecord(input.next['public_key']!))))
          throw fail(
            input.ref,
            'verify',
            `${target.file} has no record of the new selector with the new key`,
            {
              details: { record: name },
            },
          );
      },
      finalize: async (input) => {
        if (sameSelector(input)) return;
        await setLine(input, 'finalize', recordName(input, 'finalize', input.current, 'current'), null);
      },
      rollback: async (input) => {
        if (sameSelector(input)) return;
        await setLine(input, 'rollback', recordName(input, 'rollback', input.next, 'new'), null);
      },
    };
  }

  const { server } = target;
  const resolverAt = target.resolver ?? server;

  const tsigKey = (input: RotationInput, phase: string): TsigKey => {
    let secret: string;
    try {
      secret = readCredential(target.tsig.secret, 'rotation.targets.dkim.tsig.secret', deps.env);
    } catch (error) {
      throw fail(input.ref, phase, errorMessage(error), { cause: error });
    }
    const raw = Buffer.from(secret, 'base64');
    if (raw.length < 16)
      throw fail(input.ref, phase, `the TSIG key ${target.tsig.name} is not base64 of at least 16 bytes`);
    return { name: target.tsig.name, algorithm: target.tsig.algorithm, secret: raw };
  };

  const update = async (
    input: RotationInput,
    phase: string,
    zoneOf: SecretData,
    changes: UpdateChange[],
    prerequisites: UpdatePrerequisite[] = [],
  ) => {
    const zone = (target.zone ?? zoneOf['domain'] ?? '').replace(/\.$/, '');
    for (const change of [...changes, ...prerequisites])
      if (change.name !== zone && !change.name.endsWith(`.${zone}`))
        throw fail(input.ref, phase, `${change.name} is not inside the zone ${zone}`);
    try {
      await sendDnsUpdate({
        server,
        zone,
        key: tsigKey(input, phase),
        changes,
        prerequisites,
        timeoutMs,
        signal: input.signal,
      });
      input.logger.debug(
        {
          tenant: input.ref.tenant,
          phase,
          server: targetName,
          zone,
          changes: changes.map((c) => `${c.op} ${c.name}`),
        },
        'DNS update applied',
      );
    } catch (error) {
      if (error instanceof RotationError) throw error;
      if (error instanceof DnsUpdateRefused && error.rcode === 'NXRRSET' && prerequisites.length)
        throw fail(input.ref, phase, 'the new selector is not published: the old record is kept', {
          details: { rcode: error.rcode },
        });
      if (error instanceof DnsUpdateRefused) {
        throw fail(
          input.ref,
          phase,
          `DNS server ${server.host}:${server.port} refused the update of ${zone}: ${error.message}` +
            refusalHint(error, target.tsig.name, zone),
          {
            // SERVFAIL can pass; a refusal or a bad key needs the operator.
            retryable: error.rcode === 'SERVFAIL',
            details: { rcode: error.rcode, ...(error.tsigError ? { tsig_error: error.tsigError } : {}) },
          },
        );
      }
      throw fail(
        input.ref,
        phase,
        `DNS update at ${server.host}:${server.port} failed: ${errorMessage(error)}`,
        {
          retryable: true,
        },
      );
    }
  };

  /** The `p=` values published at `name`, as the resolver answers now (empty: no record). */
  const published = async (input: RotationInput, phase: string, name: string): Promise<string[]> => {
    const resolver = new Resolver({ timeout: timeoutMs, tries: 2 });
    resolver.setServers([
      resolverAt.host.includes(':')
        ? `[${resolverAt.host}]:${resolverAt.port}`
        : `${resolverAt.host}:${resolverAt.port}`,
    ]);
    const onAbort = () => resolver.cancel();
    input.signal.addEventListener('abort', onAbort, { once: true });
    try {
      const records = await resolver.resolveTxt(name);
      return records.map((chunks) => dkimPublicKeyOf(chunks.join('')) ?? '');
    } catch (error) {
      const code = systemErrorCode(error);
      if (code === 'ENOTFOUND' || code === 'ENODATA') return [];
      throw fail(
        input.ref,
        phase,
        `resolving ${name} at ${resolverAt.host}:${resolverAt.port} failed: ${describeSystemError(error)}`,
        {
          retryable: true,
        },
      );
    } finally {
      input.signal.removeEventListener('abort', onAbort);
    }
  };

  return {
    kind: 'dkim',
    targetOf: () => targetName,
    generate,
    apply: async (input) => {
      const name = recordName(input, 'apply', input.next, 'new');
      newKeyToPublish(input);
      // Delete-then-add in one message: the server applies both or neither, and a re-run leaves exactly one record.
      await update(input, 'apply', input.next, [
        { op: 'delete-txt', name },
        { op: 'add', name, ttl: target.ttl, txt: splitTxt(dkimRecord(input.next['public_key']!)) },
      ]);
    },
    verify: async (input) => {
      keyPair(input, 'verify');
      const name = recordName(input, 'verify', input.next, 'new');
      const keys = await published(input, 'verify', name);
      if (!keys.includes(input.next['public_key']!.replace(/\s+/g, '')))
        throw fail(
          input.ref,
          'verify',
          // The record name goes in details: it holds the secret's fields (domain, selector), and
          // messages carry none of a secret's values.
          keys.length
            ? `the new selector's record at ${resolverAt.host}:${resolverAt.port} publishes another key`
            : `the new selector has no TXT record at ${resolverAt.host}:${resolverAt.port}`,
          { retryable: true, details: { record: name } },
        );
    },
    finalize: async (input) => {
      if (sameSelector(input)) return;
      const oldName = recordName(input, 'finalize', input.current, 'current');
      const newName = recordName(input, 'finalize', input.next, 'new');
      // The prerequisite makes the server refuse (NXRRSET) to delete the old record unless the
      // new one is there: the domain is never left without a key.
      await update(
        input,
        'finalize',
        input.current,
        [{ op: 'delete-txt', name: oldName }],
        [{ op: 'txt-exists', name: newName }],
      );
    },
    rollback: async (input) => {
      if (sameSelector(input)) return;
      const name = recordName(input, 'rollback', input.next, 'new');
      await update(input, 'rollback', input.next, [{ op: 'delete-txt', name }]);
    },
    verifyOldRefused: async (input) => {
      if (sameSelector(input)) return;
      const name = recordName(input, 'verify-old-refused', input.current, 'current');
      const keys = await published(input, 'verify-old-refused', name);
      if (keys.length)
        throw fail(
          input.ref,
          'verify-old-refused',
          `the old selector is still published at ${resolverAt.host}:${resolverAt.port}`,
          { retryable: true, details: { record: name } },
        );
    },
  };
}
