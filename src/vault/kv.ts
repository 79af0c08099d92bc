import { NotFoundError } from './errors.js';
import type { VaultClient } from './client.js';
import type { KvMetadata, KvReadResult, KvWriteResult } from './types.js';

/** KV version 2 at one mount. Paths are relative to the mount, as on the CLI. */
export class KvV2 {
  readonly mount: string;

  constructor(
    private readonly client: VaultClient,
    mount: string,
  ) {
    this.mount = mount.replace(/^\/+|\/+$/g, '');
  }

  private at(kind: 'data' | 'metadata' | 'delete' | 'undelete' | 'destroy', path: string): string {
    return `${this.mount}/${kind}/${path.replace(/^\/+|\/+$/g, '')}`;
  }

  /** The current (or given) version; undefined when the secret or that version does not exist or is deleted. */
  async read<T = Record<string, unknown>>(
    path: string,
    version?: number,
  ): Promise<KvReadResult<T> | undefined> {
    try {
      const res = await this.client.read<KvReadResult<T> | null>(this.at('data', path), {
        ...(version ? { query: { version } } : {}),
      });
      return res.data && res.data.data !== null ? res.data : undefined;
    } catch (error) {
      if (error instanceof NotFoundError) return undefined;
      throw error;
    }
  }

  /**
   * Writes a new version. `cas` makes it conditional (0: only if absent; n: only if n is current),
   * which is what makes a write safe to repeat after a crash.
   */
  async write(
    path: string,
    data: Record<string, unknown>,
    options: { cas?: number } = {},
  ): Promise<KvWriteResult> {
    const body = options.cas === undefined ? { data } : { data, options: { cas: options.cas } };
    const res = await this.client.write<KvWriteResult>(this.at('data', path), body);
    return res!.data;
  }

  async list(path: string): Promise<string[]> {
    return this.client.list(this.at('metadata', path));
  }

  async readMetadata(path: string): Promise<KvMetadata | undefined> {
    return (await this.client.readOptional<KvMetadata>(this.at('metadata', path)))?.data;
  }

  async writeMetadata(
    path: string,
    metadata: { custom_metadata?: Record<string, string>; max_versions?: number; cas_required?: boolean },
  ): Promise<void> {
    await this.client.write(this.at('metadata', path), metadata, { idempotent: true });
  }

  /** Soft-deletes the latest version. */
  async deleteLatest(path: string): Promise<void> {
    await this.client.delete(this.at('data', path));
  }

  async deleteVersions(path: string, versions: number[]): Promise<void> {
    await this.client.write(this.at('delete', path), { versions }, { idempotent: true });
  }

  async undelete(path: string, versions: number[]): Promise<void> {
    await this.client.write(this.at('undelete', path), { versions }, { idempotent: true });
  }

  /** Permanently removes the data of these versions. */
  async destroy(path: string, versions: number[]): Promise<void> {
    await this.client.write(this.at('destroy', path), { versions }, { idempotent: true });
  }

  /** Removes the secret with every version and its metadata. */
  async deleteAll(path: string): Promise<void> {
    await this.client.delete(this.at('metadata', path));
  }

  async exists(path: string): Promise<boolean> {
    try {
      return (await this.readMetadata(path)) !== undefined;
    } catch (error) {
      if (error instanceof NotFoundError) return false;
      throw error;
    }
  }
}
