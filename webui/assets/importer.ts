// Background imports for the server: an asset registered with a source URL (POST /api/v1/assets
// with url=…, or a job's `*_URL` setting) is streamed into the store while the request returns at
// once; the asset's row says pending → importing (with bytes so far) → ready or failed (with the
// reason), and every state change is announced on NOTIFY kubeqa_assets. One import per asset at a
// time in this process; asking again while one runs joins it. An asset that is ready from the same
// source is not downloaded again.

import { findAsset, recordAssetState, recordImportProgress } from '../../db/assets.js';
import type { OpenDatabase } from '../../db/connect.js';
import type { AssetType } from '../../domain/assets/types.js';
import { assetKey } from '../../domain/assets/types.js';
import type { Compression } from '../../domain/assets/url-settings.js';
import type { Logger } from '../../runtime/logger.js';
import { importAsset, redact } from '../../runtime/storage/import.js';
import type { RetryOptions } from '../../runtime/storage/retry.js';
import type { S3Store } from '../../runtime/storage/s3-store.js';
import type { AssetStore } from '../../runtime/storage/store.js';

export interface ImportOrder {
  type: AssetType;
  name: string;
  /** http(s):// or s3://bucket/key. */
  source: string;
  sha256?: string;
  decompress?: Compression;
  fixed?: boolean;
}

export interface AssetImporterOptions {
  database: OpenDatabase;
  store: AssetStore;
  log: Logger;
  /** A client for s3:// sources (default: the store when it is S3). */
  s3?: S3Store;
  retry?: Partial<RetryOptions>;
  /** How often progress is written to the row (default 2 s). */
  progressIntervalMs?: number;
  /** Called after an import ended (ready or failed), e.g. to run group cleanup. */
  onSettled?: (order: ImportOrder, ok: boolean) => void;
}

function sourceLabel(source: string): string {
  try {
    return redact(new URL(source));
  } catch {
    return source.slice(0, 200);
  }
}

export class AssetImporter {
  private readonly running = new Map<string, { done: Promise<void>; abort: AbortController }>();

  constructor(private readonly options: AssetImporterOptions) {}

  get store(): AssetStore {
    return this.options.store;
  }

  /**
   * Start importing (or join the running import of) the asset. Resolves once its row says
   * importing (or ready, when the same source was imported before); the import goes on.
   */
  async request(order: ImportOrder): Promise<{ started: boolean }> {
    const key = assetKey(order.type, order.name);
    if (this.running.has(key)) return { started: false };
    const { database, store } = this.options;
    const label = sourceLabel(order.source);
    const existing = await findAsset(database.query, order.type, order.name);
    if (
      existing?.state === 'ready' &&
      existing.source === label &&
      (!order.sha256 || existing.checksum === order.sha256.toLowerCase()) &&
      (await store.stat(key))
    ) {
      return { started: false };
    }
    const abort = new AbortController();
    const entry = { abort, done: Promise.resolve() };
    this.running.set(key, entry);
    try {
      await recordAssetState(database.query, {
        type: order.type,
        name: order.name,
        state: 'importing',
        source: label,
        bytesImported: 0,
        // Kept as the checksum it must have, so an import resumed after a restart verifies it too.
        ...(order.sha256 ? { sha256: order.sha256.toLowerCase() } : {}),
        ...(order.fixed !== undefined ? { fixed: order.fixed } : {}),
      });
    } catch (error) {
      this.running.delete(key);
      throw error;
    }
    entry.done = this.run(key, order, label, abort.signal).finally(() => {
      if (this.running.get(key) === entry) this.running.delete(key);
    });
    return { started: true };
  }

  /**
   * Start again the imports a stopped server left `importing`: rows with a source whose progress
   * has not moved for `staleMs` (a running import writes it every few seconds). Each row is
   * claimed with one conditional update, so of several servers starting at once one resumes it.
   * Sources are stored without credentials or query: such a source must be registered again.
   */
  async resumeInterrupted(staleMs = 120_000): Promise<string[]> {
    const { database, log } = this.options;
    const rows = await database.query<{
      type: AssetType;
      name: string;
      source: string;
      checksum: string | null;
    }>(
      `update assets set t_updated = now()
        where state = 'importing' and source is not null and t_updated < now() - make_interval(secs => $1)
        returning type, name, source, checksum`,
      [staleMs / 1000],
    );
    const resumed: string[] = [];
    for (const row of rows) {
      const key = `${row.type}/${row.name}`;
      try {
        const sha256 = row.checksum;
        await this.request({
          type: row.type,
          name: row.name,
          source: row.source,
          ...(sha256 && /^[0-9a-f]{64}$/.test(sha256) ? { sha256 } : {}),
        });
        resumed.push(key);
      } catch (error) {
        log.warn({ asset: key, err: (error as Error).message }, 'could not resume the import');
      }
    }
    if (resumed.length > 0) log.info({ assets: resumed }, 'resumed interrupted imports');
    return resumed;
  }

  /** Resolves when every import running now has ended. */
  async idle(): Promise<void> {
    while (this.running.size > 0) await Promise.all([...this.running.values()].map((r) => r.done));
  }

  /** Abort running imports (their rows stay `importing`; the next server asked to import resumes them). */
  async close(): Promise<void> {
    for (const entry of this.running.values()) entry.abort.abort(new Error('the server is stopping'));
    await Promise.all([...this.running.values()].map((r) => r.done));
  }

  private async run(key: string, order: ImportOrder, label: string, signal: AbortSignal): Promise<void> {
    const { database, store, log } = this.options;
    let ok = false;
    try {
      const result = await importAsset(store, {
        source: order.source,
        key,
        ...(order.sha256 ? { sha256: order.sha256.toLowerCase() } : {}),
        ...(order.decompress ? { decompress: order.decompress } : {}),
        ...(this.options.s3 ? { s3: this.options.s3 } : {}),
        ...(this.options.retry ? { retry: this.options.retry } : {}),
        progressIntervalMs: this.options.progressIntervalMs ?? 2000,
        signal,
        log,
        onProgress: (progress) => {
          void recordImportProgress(
            database.query,
            order.type,
            order.name,
            progress.bytes,
            progress.total,
          ).catch(() => undefined);
        },
      });
      await recordAssetState(database.query, {
        type: order.type,
        name: order.name,
        state: 'ready',
        source: label,
        size: result.size,
        sha256: result.sha256,
      });
      ok = true;
      log.info({ asset: key, source: label, size: result.size }, 'asset imported');
    } catch (error) {
      if (signal.aborted) return;
      const reason = (error as Error).message ?? String(error);
      log.warn({ asset: key, source: label, err: reason }, 'asset import failed');
      await recordAssetState(database.query, {
        type: order.type,
        name: order.name,
        state: 'failed',
        reason,
        source: label,
      }).catch((e: Error) => log.error({ asset: key, err: e.message }, 'could not record the failed import'));
    }
    this.options.onSettled?.(order, ok);
  }
}
