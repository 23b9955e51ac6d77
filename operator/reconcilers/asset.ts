// The Asset reconciler: imports each Asset CR's source (http(s):// or an s3Key in the store's
// bucket) into the asset store with its sha256 verified, and keeps the CR's status current:
// Pending → Importing (with progress) → Ready (with its location) or Failed (with a typed reason).
// An import runs in the background, so a multi-GB download never holds a controller worker; a
// changed spec (new generation) or a deleted CR aborts it. An import that was running when the
// operator stopped starts again on the next leader (its status says Importing for a generation no
// import of this process serves). The store keeps nothing half-written (runtime/storage).

import { lastUsed, recordAssetState, recordImportProgress } from '../../db/assets.js';
import type { QueryFn } from '../../db/connect.js';
import type { Logger } from '../../runtime/logger.js';
import { storeFromEnv } from '../../runtime/storage/config.js';
import { importAsset } from '../../runtime/storage/import.js';
import type { RetryOptions } from '../../runtime/storage/retry.js';
import { S3Store } from '../../runtime/storage/s3-store.js';
import type { AssetStore } from '../../runtime/storage/store.js';
import { Controller, type ReconcileResult, type Reconciler } from '../controller/controller.js';
import { Informer, type KubeObject, objectKey } from '../controller/informer.js';
import { KubeApiError, type KubeClient } from '../kube/client.js';
import { KUBEQA_API_VERSION } from '../kube/crds.js';
import type { EventRecorder } from '../kube/events.js';
import type { OperatorMetrics } from '../metrics.js';
import {
  type AssetObject,
  type AssetStatus,
  assetStatusChanged,
  failedStatus,
  failureReason,
  type ImportTarget,
  importingStatus,
  importSettled,
  importTarget,
  readyStatus,
  specOrLifeChanged,
} from './asset-status.js';

export interface AssetReconcilerOptions {
  store: AssetStore;
  /** The bucket `source.s3Key` refers to (the store's, when it is S3). */
  bucket?: string;
  /** Mirror each asset's state into the database (jobs wait on it), and read its last use. */
  database?: QueryFn;
  events?: EventRecorder;
  log?: Logger;
  /** How often progress is written to the status (default 2 s). */
  progressIntervalMs?: number;
  retry?: Partial<RetryOptions>;
  /** How often a Ready asset's lastUsed is refreshed from the database (default 10 min). */
  resyncMs?: number;
  now?: () => Date;
}

interface RunningImport {
  uid: string | undefined;
  generation: number;
  abort: AbortController;
  done: Promise<void>;
  /** Status writes of this import, in order (a late progress write never follows the final one). */
  writes: Promise<void>;
}

export class AssetReconciler implements Reconciler {
  readonly name = 'asset';
  private readonly running = new Map<string, RunningImport>();

  constructor(
    private readonly client: KubeClient,
    private readonly assets: Informer<KubeObject>,
    private readonly options: AssetReconcilerOptions,
  ) {}

  private now(): Date {
    return this.options.now?.() ?? new Date();
  }

  async reconcile(key: string): Promise<ReconcileResult | undefined> {
    const asset = this.assets.get(key) as unknown as AssetObject | undefined;
    const run = this.running.get(key);
    if (!asset || asset.metadata.deletionTimestamp) {
      if (run) this.cancel(key, run, 'the Asset was deleted');
      return undefined;
    }
    const generation = asset.metadata.generation ?? 1;
    if (run && run.generation === generation && run.uid === asset.metadata.uid) return undefined;
    if (run) this.cancel(key, run, `the spec changed (generation ${generation})`);
    if (importSettled(asset)) return this.refreshLastUsed(asset);

    let target: ImportTarget;
    try {
      target = importTarget(asset.spec, this.options.bucket);
    } catch (error) {
      await this.writeStatus(asset, failedStatus(asset, error, this.now()));
      await this.event(asset, 'Warning', failureReason(error), (error as Error).message);
      return undefined;
    }
    const abort = new AbortController();
    const entry: RunningImport = {
      uid: asset.metadata.uid,
      generation,
      abort,
      done: Promise.resolve(),
      writes: Promise.resolve(),
    };
    this.running.set(key, entry);
    const starting = importingStatus(asset, target, { bytes: 0 }, this.now());
    await this.writeStatus(asset, starting);
    await this.event(asset, 'Normal', 'Importing', `importing ${target.key} from ${redacted(target.source)}`);
    entry.done = this.runImport(key, asset, target, entry).catch((error: Error) =>
      this.options.log?.error({ asset: key, err: error.message }, 'asset import task failed'),
    );
    return undefined;
  }

  /** Wait for every running import to end (after stop() aborted them). */
  async settle(): Promise<void> {
    await Promise.all([...this.running.values()].map((r) => r.done));
  }

  abortAll(): void {
    for (const [key, run] of this.running) this.cancel(key, run, 'the operator is stopping');
  }

  private cancel(key: string, run: RunningImport, why: string): void {
    this.options.log?.info({ asset: key, why }, 'asset import cancelled');
    run.abort.abort(new Error(why));
    if (this.running.get(key) === run) this.running.delete(key);
  }

  private async runImport(
    key: string,
    asset: AssetObject,
    target: ImportTarget,
    run: RunningImport,
  ): Promise<void> {
    const { store, database } = this.options;
    let current: AssetObject = asset;
    await this.mirror({ type: target.type, name: target.name, state: 'importing', source: target.source });
    try {
      const result = await importAsset(store, {
        source: target.source,
        key: target.key,
        ...(target.sha256 ? { sha256: target.sha256 } : {}),
        signal: run.abort.signal,
        progressIntervalMs: this.options.progressIntervalMs ?? 2000,
        ...(this.options.retry ? { retry: this.options.retry } : {}),
        ...(this.options.log ? { log: this.options.log } : {}),
        onProgress: (progress) => {
          if (run.abort.signal.aborted || progress.bytes === 0) return;
          const next = importingStatus(current, target, progress, this.now());
          current = { ...current, status: next };
          run.writes = run.writes.then(() => this.writeStatus(asset, next));
          if (database) {
            void recordImportProgress(
              database,
              target.type,
              target.name,
              progress.bytes,
              progress.total,
            ).catch(() => undefined);
          }
        },
      });
      await run.writes;
      if (run.abort.signal.aborted) return;
      const location = store.location(target.key);
      await this.mirror({
        type: target.type,
        name: target.name,
        state: 'ready',
        size: result.size,
        sha256: result.sha256,
        fixed: asset.spec.retention?.fixed ?? false,
      });
      const used = await this.lastUsedOf(target);
      const ready = readyStatus(current, target, { ...result, location }, this.now());
      await this.writeStatus(asset, used ? { ...ready, lastUsed: used } : ready);
      await this.event(
        asset,
        'Normal',
        'Imported',
        `${target.key}: ${result.size} bytes, sha256 ${result.sha256}, ${result.attempts} attempt(s)`,
      );
    } catch (error) {
      await run.writes;
      if (run.abort.signal.aborted) return;
      const reason = failureReason(error);
      this.options.log?.warn({ asset: key, reason, err: (error as Error).message }, 'asset import failed');
      await this.mirror({
        type: target.type,
        name: target.name,
        state: 'failed',
        reason: (error as Error).message,
      });
      await this.writeStatus(asset, failedStatus(current, error, this.now()));
      await this.event(asset, 'Warning', reason, (error as Error).message);
    } finally {
      if (this.running.get(key) === run) this.running.delete(key);
    }
  }

  private async mirror(update: Parameters<typeof recordAssetState>[1]): Promise<void> {
    if (!this.options.database) return;
    try {
      await recordAssetState(this.options.database, update);
    } catch (error) {
      this.options.log?.warn(
        { asset: `${update.type}/${update.name}`, err: (error as Error).message },
        'could not record the asset state in the database',
      );
    }
  }

  private async lastUsedOf(target: ImportTarget): Promise<string | undefined> {
    if (!this.options.database) return undefined;
    const used = await lastUsed(this.options.database, target.type, target.name).catch(() => undefined);
    return used ? used.toISOString().replace(/\.\d{3}Z$/, 'Z') : undefined;
  }

  private async refreshLastUsed(asset: AssetObject): Promise<ReconcileResult | undefined> {
    if (!this.options.database || asset.status?.phase !== 'Ready') return undefined;
    let target: ImportTarget;
    try {
      target = importTarget(asset.spec, this.options.bucket);
    } catch {
      return undefined;
    }
    const used = await this.lastUsedOf(target);
    const next = { ...asset.status, ...(used ? { lastUsed: used } : {}) };
    if (assetStatusChanged(asset.status, next)) await this.writeStatus(asset, next);
    return { requeueAfterMs: this.options.resyncMs ?? 600_000 };
  }

  private async writeStatus(asset: AssetObject, next: AssetStatus): Promise<void> {
    const namespace = asset.metadata.namespace ?? 'default';
    // A merge patch keeps fields it does not name: clear the ones this status does not have.
    const status: Record<string, unknown> = { location: null, reason: null, lastUsed: null, ...next };
    try {
      await this.client.patch(
        `/apis/${KUBEQA_API_VERSION}/namespaces/${namespace}/assets/${asset.metadata.name}/status`,
        { status },
        'merge',
      );
    } catch (error) {
      if (error instanceof KubeApiError && error.statusCode === 404) return;
      this.options.log?.warn(
        { asset: `${namespace}/${asset.metadata.name}`, err: (error as Error).message },
        'could not write the Asset status',
      );
    }
  }

  private async event(
    asset: AssetObject,
    type: 'Normal' | 'Warning',
    reason: string,
    message: string,
  ): Promise<void> {
    await this.options.events?.record(
      { apiVersion: KUBEQA_API_VERSION, kind: 'Asset', metadata: asset.metadata },
      type,
      reason,
      message,
    );
  }
}

function redacted(source: string): string {
  try {
    const url = new URL(source);
    return `${url.protocol}//${url.host}${url.pathname}`;
  } catch {
    return source.slice(0, 200);
  }
}

export interface AssetControllerOptions {
  client: KubeClient;
  log: Logger;
  /** Namespace to watch; empty or undefined: all namespaces. */
  namespace?: string;
  events?: EventRecorder;
  metrics?: OperatorMetrics;
  /** The store; default: from the environment (S3 when KUBEQA_S3_* is set, else KUBEQA_ASSET_DIR). */
  store?: AssetStore;
  env?: NodeJS.ProcessEnv;
  database?: QueryFn;
  progressIntervalMs?: number;
  retry?: Partial<RetryOptions>;
}

export interface RunningAssetController {
  reconciler: AssetReconciler;
  controller: Controller;
  informer: Informer<KubeObject>;
  stop(): Promise<void>;
}

/**
 * The Asset controller: an informer on Asset CRs and a controller running the reconciler. Returns
 * undefined (and says so in the log) when no store is configured: an operator without S3 settings
 * or KUBEQA_ASSET_DIR cannot import anything.
 */
export async function startAssetController(
  options: AssetControllerOptions,
): Promise<RunningAssetController | undefined> {
  const env = options.env ?? process.env;
  let store = options.store;
  if (!store) {
    const configured = Boolean(env.KUBEQA_S3_ENDPOINT ?? env.S3_ENDPOINT ?? env.KUBEQA_ASSET_DIR);
    if (!configured) {
      options.log.info(
        'no asset store configured (KUBEQA_S3_* or KUBEQA_ASSET_DIR): Asset CRs are not imported',
      );
      return undefined;
    }
    store = storeFromEnv(env, options.log);
  }
  const path = options.namespace
    ? `/apis/${KUBEQA_API_VERSION}/namespaces/${options.namespace}/assets`
    : `/apis/${KUBEQA_API_VERSION}/assets`;
  const informer = new Informer<KubeObject>(options.client, path, { log: options.log });
  const reconciler = new AssetReconciler(options.client, informer, {
    store,
    ...(store instanceof S3Store ? { bucket: store.bucket } : {}),
    ...(options.database ? { database: options.database } : {}),
    ...(options.events ? { events: options.events } : {}),
    ...(options.progressIntervalMs !== undefined ? { progressIntervalMs: options.progressIntervalMs } : {}),
    ...(options.retry ? { retry: options.retry } : {}),
    log: options.log,
  });
  const controller = new Controller(reconciler, {
    ...(options.metrics ? { metrics: options.metrics } : {}),
    log: options.log,
  });
  informer.on('add', (o) => controller.enqueue(objectKey(o)));
  // Its own status writes (import progress every few seconds) come back as updates: only a new
  // generation (spec) or a deletion needs a reconcile.
  informer.on('update', (old, o) => {
    if (specOrLifeChanged(old, o)) controller.enqueue(objectKey(o));
  });
  informer.on('delete', (o) => controller.enqueue(objectKey(o)));
  await informer.start();
  controller.start();
  options.log.info({ store: store.description }, 'asset controller started');
  return {
    reconciler,
    controller,
    informer,
    async stop() {
      reconciler.abortAll();
      await controller.stop();
      await informer.stop();
      await reconciler.settle();
    },
  };
}
