// An informer: a local cache of one kind of object, kept current by list + watch.
// - The initial list fills the cache; start() resolves once it has (hasSynced).
// - The watch resumes from the last resourceVersion seen (bookmarks included). When the server
//   says that version is gone (410 / Expired), the informer lists again and emits the difference
//   (adds, updates, deletes) so handlers never miss a change.
// - Any other watch error or end of stream restarts the watch after a backoff.
// - A watchdog restarts a watch that has been silent (no event, no bookmark) for staleAfterMs.
import { EventEmitter } from 'node:events';
import type { Logger } from '../../runtime/logger.js';
import { KubeApiError, type KubeClient, type KubeStatus } from '../kube/client.js';

export interface KubeObject {
  apiVersion?: string;
  kind?: string;
  metadata: {
    name: string;
    namespace?: string;
    uid?: string;
    resourceVersion?: string;
    generation?: number;
    deletionTimestamp?: string;
    finalizers?: string[];
    labels?: Record<string, string>;
    annotations?: Record<string, string>;
    ownerReferences?: Array<{
      apiVersion: string;
      kind: string;
      name: string;
      uid: string;
      controller?: boolean;
    }>;
    [key: string]: unknown;
  };
}

export function objectKey(obj: KubeObject): string {
  return obj.metadata.namespace ? `${obj.metadata.namespace}/${obj.metadata.name}` : obj.metadata.name;
}

export interface InformerOptions {
  /** Restart a watch that delivered nothing (not even a bookmark) for this long. Default 5 minutes. */
  staleAfterMs?: number;
  /** Backoff before restarting a failed watch: doubles from this up to 30 s. Default 100 ms. */
  retryBaseMs?: number;
  log?: Logger;
}

/** kubectl's copy of the whole object as last applied, kept in an annotation. */
export const LAST_APPLIED_ANNOTATION = 'kubectl.kubernetes.io/last-applied-configuration';

/**
 * What the informers cache of an object, as controller-runtime's cache transforms do: without
 * metadata.managedFields (server-side apply bookkeeping) and without kubectl's last-applied
 * annotation (a second copy of the spec). The operator never reads either, and at 15,000 Job CRs
 * they would be most of its memory.
 */
export function trimForCache<T extends KubeObject>(obj: T): T {
  const metadata = obj.metadata;
  if (!metadata) return obj;
  if ('managedFields' in metadata) delete metadata.managedFields;
  if (metadata.annotations && LAST_APPLIED_ANNOTATION in metadata.annotations) {
    delete metadata.annotations[LAST_APPLIED_ANNOTATION];
    if (Object.keys(metadata.annotations).length === 0) delete metadata.annotations;
  }
  return obj;
}

export interface InformerEvents<T> {
  add: [T];
  update: [T, T];
  delete: [T];
  /** A fresh list replaced the cache (initially, and after 410 Gone). */
  relist: [number];
  /** The watch was restarted; the reason says why. */
  restart: [string];
}

export class Informer<T extends KubeObject> extends EventEmitter<InformerEvents<T>> {
  private readonly cache = new Map<string, T>();
  private resourceVersion = '';
  private controller: AbortController | undefined;
  private running = false;
  private synced = false;
  private lastActivity = Date.now();
  private watchdog: NodeJS.Timeout | undefined;
  private readonly staleAfterMs: number;
  private readonly retryBaseMs: number;
  private loop: Promise<void> | undefined;

  constructor(
    private readonly client: KubeClient,
    /** Collection path, e.g. /apis/kubeqa.io/v1alpha1/jobs or with ?labelSelector=… */
    private readonly path: string,
    private readonly options: InformerOptions = {},
  ) {
    super();
    this.staleAfterMs = options.staleAfterMs ?? 5 * 60_000;
    this.retryBaseMs = options.retryBaseMs ?? 100;
  }

  get hasSynced(): boolean {
    return this.synced;
  }

  get(key: string): T | undefined {
    return this.cache.get(key);
  }

  list(): T[] {
    return [...this.cache.values()];
  }

  /** Start listing and watching; resolves when the cache holds the first full list. */
  async start(): Promise<void> {
    if (this.running) return;
    await this.loop;
    this.running = true;
    await this.initialList();
    this.loop = this.watchLoop();
    this.watchdog = setInterval(
      () => this.checkStale(),
      Math.max(50, Math.min(this.staleAfterMs / 4, 30_000)),
    );
    this.watchdog.unref();
  }

  async stop(): Promise<void> {
    this.running = false;
    if (this.watchdog) clearInterval(this.watchdog);
    this.controller?.abort();
    await this.loop;
  }

  /** Resume the watch from a given resourceVersion (tests use this to provoke 410 Gone). */
  restartFrom(resourceVersion: string, reason = 'requested'): void {
    this.resourceVersion = resourceVersion;
    this.restart(reason);
  }

  private restart(reason: string): void {
    this.emit('restart', reason);
    this.controller?.abort();
  }

  private checkStale(): void {
    if (Date.now() - this.lastActivity > this.staleAfterMs) {
      this.options.log?.warn(
        { path: this.path, staleAfterMs: this.staleAfterMs },
        'watch silent too long; restarting',
      );
      this.lastActivity = Date.now();
      this.restart('stale');
    }
  }

  /**
   * The first list, retried while the server is not ready for it: 429 (a new CRD's storage is
   * still initialising), 5xx, or a connection error. Other errors (403, 404) are final.
   */
  private async initialList(): Promise<void> {
    for (let attempt = 0; ; attempt++) {
      try {
        await this.relist();
        return;
      } catch (error) {
        const status = error instanceof KubeApiError ? error.statusCode : undefined;
        const retryable = status === undefined || status === 429 || status >= 500;
        if (!retryable || !this.running) throw error;
        const delay = Math.min(this.retryBaseMs * 2 ** attempt, 5_000);
        this.options.log?.info(
          { path: this.path, err: (error as Error).message, delay },
          'list not possible yet; retrying',
        );
        await new Promise((resolve) => setTimeout(resolve, delay));
      }
    }
  }

  private async relist(): Promise<void> {
    const list = await this.client.get<{ items: T[]; metadata: { resourceVersion: string } }>(this.path);
    const seen = new Set<string>();
    for (const item of list.items) {
      trimForCache(item);
      const key = objectKey(item);
      seen.add(key);
      const old = this.cache.get(key);
      this.cache.set(key, item);
      if (!old) this.emit('add', item);
      else if (old.metadata.resourceVersion !== item.metadata.resourceVersion) this.emit('update', old, item);
    }
    for (const [key, old] of this.cache) {
      if (!seen.has(key)) {
        this.cache.delete(key);
        this.emit('delete', old);
      }
    }
    this.resourceVersion = list.metadata.resourceVersion;
    this.lastActivity = Date.now();
    this.synced = true;
    this.emit('relist', list.items.length);
  }

  private async watchLoop(): Promise<void> {
    let failures = 0;
    while (this.running) {
      this.controller = new AbortController();
      const sep = this.path.includes('?') ? '&' : '?';
      try {
        for await (const event of this.client.watch<T | KubeStatus>(
          `${this.path}${sep}resourceVersion=${this.resourceVersion}`,
          this.controller.signal,
        )) {
          this.lastActivity = Date.now();
          failures = 0;
          if (event.type === 'ERROR') {
            const status = event.object as KubeStatus;
            if (status.code === 410 || status.reason === 'Expired' || status.reason === 'Gone') {
              await this.relist();
              break;
            }
            throw new KubeApiError(status.code ?? 500, status, 'WATCH', this.path);
          }
          const obj = trimForCache(event.object as T);
          if (obj.metadata?.resourceVersion) this.resourceVersion = obj.metadata.resourceVersion;
          if (event.type === 'BOOKMARK') continue;
          const key = objectKey(obj);
          const old = this.cache.get(key);
          if (event.type === 'DELETED') {
            this.cache.delete(key);
            this.emit('delete', obj);
          } else {
            this.cache.set(key, obj);
            if (old) this.emit('update', old, obj);
            else this.emit('add', obj);
          }
        }
      } catch (error) {
        if (!this.running) break;
        if (this.controller.signal.aborted) continue;
        if (error instanceof KubeApiError && error.statusCode === 410) {
          await this.relist().catch(() => undefined);
          continue;
        }
        failures++;
        const delay = Math.min(this.retryBaseMs * 2 ** (failures - 1), 30_000);
        this.options.log?.warn(
          { path: this.path, err: (error as Error).message, delay },
          'watch failed; restarting',
        );
        this.emit('restart', `error: ${(error as Error).message}`);
        await new Promise((resolve) => setTimeout(resolve, delay));
        if (failures > 3) await this.relist().catch(() => undefined);
      }
    }
  }
}
