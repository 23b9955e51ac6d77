// The node's asset cache: one directory (a hostPath) shared by every test pod on the node, or by
// a remote worker's jobs. A job asks for an asset and gets a hard link to it in its own directory
// (its qcow2 overlay then uses it as the backing file, so a base image is never copied).
//
// - One download per asset per node: a miss takes the asset's flock (file-lock.ts), so however
//   many processes ask at once, one downloads and the others wait and then find it cached.
// - LRU eviction keeps the cache under CACHELIMIT and the disk above its minimum free share
//   (domain/assets/eviction.ts decides). An asset linked into a job (link count > 1) or being
//   downloaded (its lock is held) is never evicted.
// - Downloads run at most CACHEWORKERS at a time per process, resume after transient errors
//   (Range requests) with backoff, and are checked against the expected size and sha256 before
//   they become visible; a hit is revalidated against the source's ETag.
// - Every error a job can meet is a CacheFailure: `cache failure: …`, retryable by the scheduler.
//
// Layout: assets/<type>/<name> (the files), meta/<type>/<name>.json (etag, sha256, last use),
// locks/<type>/<name>.lock and locks/evict.lock, reserve/<type>/<name>.json (space claimed by a
// running download), tmp/ (downloads in progress; same filesystem, so they are renamed into place).
import { createHash, randomUUID } from 'node:crypto';
import { createReadStream, readFileSync } from 'node:fs';
import {
  type FileHandle,
  link,
  mkdir,
  open,
  readdir,
  readFile,
  rename,
  rm,
  stat,
  statfs,
  writeFile,
} from 'node:fs/promises';
import { dirname, isAbsolute, join } from 'node:path';
import { Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { type CachedEntry, formatBytes, planEviction } from '../../domain/assets/eviction.js';
import {
  ASSET_TYPES,
  type AssetType,
  validateAssetName,
  validateAssetType,
  validateSha256,
} from '../../domain/assets/types.js';
import { KubeqaError } from '../../domain/errors.js';
import type { Logger } from '../../runtime/logger.js';
import { backoffDelay, isTransient, type RetryOptions } from '../../runtime/storage/retry.js';
import { type HeldLock, lock, tryLock } from './file-lock.js';
import { CacheMetrics } from './metrics.js';
import type { AssetSource, SourceFacts } from './sources.js';

/** A cache error a job can meet; the scheduler retries the job. */
export class CacheFailure extends KubeqaError {
  readonly retryable = true;
  constructor(message: string, hint?: string, options?: { cause?: unknown }) {
    super('KQ_ERR_CACHE', `cache failure: ${message}`, hint, options);
    this.name = 'CacheFailure';
  }
}

export interface CacheOptions {
  directory: string;
  /** CACHELIMIT in bytes. */
  limitBytes: number;
  /** Share of the cache's filesystem that must stay free (CACHE_MIN_FREE_PERCENTAGE). */
  minFreePercent: number;
  /** CACHEWORKERS: downloads at the same time in this process. */
  workers: number;
  source: AssetSource;
  /** Check the source's ETag on every hit (default true). */
  revalidate?: boolean;
  /** Download attempts and backoff (default 5 attempts, 500 ms doubling up to 10 s). */
  retry?: Partial<Pick<RetryOptions, 'attempts' | 'baseDelayMs' | 'maxDelayMs'>>;
  log?: Logger;
  metrics?: CacheMetrics;
}

/** What a job asks for: `dest`, or its `job` id to get a link in <CACHEDIRECTORY>/pool/<job>/. */
export type AcquireInput = Omit<AcquireRequest, 'dest'> & { dest?: string; job?: string };

export interface AcquireRequest {
  type: AssetType;
  name: string;
  /** Absolute path of the hard link to create (inside the job's directory, same filesystem). */
  dest: string;
  /** The sha256 the asset must have (from the asset record); otherwise the source's, if it says. */
  sha256?: string;
  /** Progress of a download; a returned promise pauses the download until it settles. */
  onProgress?: (bytes: number, total: number) => void | Promise<void>;
  signal?: AbortSignal;
}

export interface AcquireResult {
  path: string;
  size: number;
  etag: string;
  sha256: string;
  /** Served from the cache without downloading in this call. */
  hit: boolean;
  /** Another process (or request) was downloading it and this one waited. */
  waited: boolean;
}

interface Meta {
  size: number;
  etag: string;
  sha256: string;
  lastUse: number;
  downloadedAt: number;
  source: string;
  /** The boot the file was written in (see bootId()). */
  bootId?: string;
}

/**
 * The kernel's id of this boot. Downloads are not fsynced: within one boot every process sees the
 * page cache, so a verified file stays verified; after a crash or reboot unflushed pages may be
 * lost, so a file from another boot is hashed again before its first use.
 */
function bootId(): string {
  try {
    return readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim();
  } catch {
    return 'unknown';
  }
}

class Semaphore {
  private active = 0;
  private readonly queue: (() => void)[] = [];
  constructor(private readonly size: number) {}
  async run<T>(fn: () => Promise<T>): Promise<T> {
    if (this.active >= this.size) await new Promise<void>((resolve) => this.queue.push(resolve));
    this.active += 1;
    try {
      return await fn();
    } finally {
      this.active -= 1;
      this.queue.shift()?.();
    }
  }
}

export class AssetCache {
  readonly metrics: CacheMetrics;
  private readonly downloads = new Map<string, Promise<unknown>>();
  private readonly workers: Semaphore;
  private readonly retry: { attempts: number; baseDelayMs: number; maxDelayMs: number };
  private readonly boot = bootId();

  constructor(private readonly options: CacheOptions) {
    if (!isAbsolute(options.directory)) {
      throw new KubeqaError(
        'KQ_ERR_INVALID_SETTING',
        `CACHEDIRECTORY must be an absolute path, got '${options.directory}'`,
      );
    }
    this.metrics = options.metrics ?? new CacheMetrics();
    this.workers = new Semaphore(Math.max(1, options.workers));
    this.retry = { attempts: 5, baseDelayMs: 500, maxDelayMs: 10_000, ...options.retry };
  }

  get directory(): string {
    return this.options.directory;
  }

  /** Where a job's links go when it gives no dest: <CACHEDIRECTORY>/pool/<job>. */
  poolDir(job: string | undefined): string {
    if (!job || !/^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/.test(job)) {
      throw new KubeqaError(
        'KQ_ERR_INVALID_ARGUMENT',
        `give a dest path or a job id (letters, digits, . _ -), got '${String(job).slice(0, 80)}'`,
      );
    }
    return join(this.options.directory, 'pool', job);
  }

  /** A job ended: drop its links, so the assets it held can be evicted again. */
  async releaseJob(job: string): Promise<void> {
    await rm(this.poolDir(job), { recursive: true, force: true });
  }

  /**
   * Drop the links of jobs that are gone (a pod that crashed before releasing them), so their
   * assets can be evicted again. Returns the job ids it dropped.
   */
  async prunePool(isActive: (job: string) => boolean | Promise<boolean>): Promise<string[]> {
    let jobs: string[];
    try {
      jobs = await readdir(join(this.options.directory, 'pool'));
    } catch {
      return [];
    }
    const dropped: string[] = [];
    for (const job of jobs) {
      if (await isActive(job)) continue;
      await rm(join(this.options.directory, 'pool', job), { recursive: true, force: true });
      dropped.push(job);
    }
    return dropped;
  }

  private assetPath(type: AssetType, name: string) {
    return join(this.options.directory, 'assets', type, name);
  }
  private metaPath(type: AssetType, name: string) {
    return join(this.options.directory, 'meta', type, `${name}.json`);
  }
  private lockPath(type: AssetType, name: string) {
    return join(this.options.directory, 'locks', type, `${name}.lock`);
  }
  private reservePath(type: AssetType, name: string) {
    return join(this.options.directory, 'reserve', type, `${name}.json`);
  }

  private initialised = false;

  /** Create the layout (idempotent). */
  async init(): Promise<void> {
    if (this.initialised) return;
    for (const sub of ['assets', 'meta', 'locks', 'reserve']) {
      for (const type of ASSET_TYPES)
        await mkdir(join(this.options.directory, sub, type), { recursive: true });
    }
    await mkdir(join(this.options.directory, 'tmp'), { recursive: true });
    this.initialised = true;
  }

  /**
   * Give the job a hard link to the asset at `input.dest` (or in its pool directory when it names
   * only its `job`), downloading the asset first if needed.
   */
  async acquire(input: AcquireInput): Promise<AcquireResult> {
    // Bad requests are not cache failures: retrying them cannot help.
    validateAssetType(input.type);
    validateAssetName(input.name);
    if (input.sha256) validateSha256(input.sha256);
    const dest = input.dest ?? join(this.poolDir(input.job), input.name);
    if (!isAbsolute(dest)) {
      throw new KubeqaError('KQ_ERR_INVALID_ARGUMENT', `dest must be an absolute path, got '${dest}'`);
    }
    const request: AcquireRequest = { ...input, dest };
    try {
      await this.init();
      const expected = request.sha256?.toLowerCase();
      const cached = await this.usable(request.type, request.name, expected);
      if (cached) {
        const result = await this.handOut(request, cached, true, false);
        this.metrics.hits += 1;
        return result;
      }
      const key = `${request.type}/${request.name}`;
      let waited = false;
      const running = this.downloads.get(key);
      if (running) {
        waited = true;
        await running.catch(() => undefined);
      } else {
        const download = this.download(request, expected);
        this.downloads.set(key, download);
        try {
          const outcome = await download;
          waited = outcome.waited;
          if (outcome.downloaded) {
            const meta = await this.readMeta(request.type, request.name);
            if (!meta) throw new CacheFailure(`${key} vanished from the cache right after its download`);
            const result = await this.handOut(request, meta, false, false);
            this.metrics.misses += 1;
            return result;
          }
        } finally {
          this.downloads.delete(key);
        }
      }
      // Someone else downloaded it while we waited.
      const after = await this.usable(request.type, request.name, expected, false);
      if (!after)
        throw new CacheFailure(`${key} is not in the cache after waiting for its download`, 'retry the job');
      const result = await this.handOut(request, after, true, waited);
      this.metrics.hits += 1;
      if (waited) this.metrics.waits += 1;
      return result;
    } catch (error) {
      this.metrics.failures += 1;
      if (error instanceof CacheFailure) throw error;
      const message = error instanceof Error ? error.message : String(error);
      const hint = error instanceof KubeqaError ? error.hint : undefined;
      throw new CacheFailure(`${request.type}/${request.name}: ${message}`, hint, { cause: error });
    }
  }

  /** The cached copy's facts if it exists, is complete and is still what the source has. */
  private async usable(
    type: AssetType,
    name: string,
    expected: string | undefined,
    revalidate = this.options.revalidate ?? true,
  ): Promise<Meta | undefined> {
    let meta = await this.readMeta(type, name);
    if (!meta) return undefined;
    const facts = await stat(this.assetPath(type, name)).catch(() => undefined);
    if (!facts || facts.size !== meta.size) return undefined;
    if (expected && meta.sha256 !== expected) return undefined;
    if (meta.bootId !== this.boot) {
      // Written before a crash or reboot: check it is still what was verified.
      const sha256 = await hashFile(this.assetPath(type, name));
      if (sha256 !== meta.sha256) {
        this.options.log?.warn(
          { asset: `${type}/${name}` },
          'cached file changed since its download, fetching again',
        );
        return undefined;
      }
      meta = { ...meta, bootId: this.boot };
      await this.writeMeta(type, name, meta);
    }
    if (revalidate) {
      let current: SourceFacts | undefined;
      try {
        current = await this.options.source.stat(type, name);
      } catch (error) {
        // The source is unreachable: the cached copy was verified when it came, use it.
        this.options.log?.warn(
          { asset: `${type}/${name}`, err: String(error) },
          'cannot revalidate, using the cached copy',
        );
        return meta;
      }
      if (current?.etag && current.etag !== meta.etag) return undefined;
    }
    return meta;
  }

  private async handOut(
    request: AcquireRequest,
    meta: Meta,
    hit: boolean,
    waited: boolean,
  ): Promise<AcquireResult> {
    const source = this.assetPath(request.type, request.name);
    await mkdir(dirname(request.dest), { recursive: true });
    try {
      await link(source, request.dest);
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      if (code === 'EEXIST') {
        const [a, b] = await Promise.all([stat(source), stat(request.dest)]);
        if (a.ino !== b.ino || a.dev !== b.dev) {
          throw new CacheFailure(
            `${request.dest} already exists and is not ${request.type}/${request.name}`,
            'give a path that does not exist yet',
          );
        }
      } else if (code === 'EXDEV') {
        throw new CacheFailure(
          `cannot hard-link ${request.type}/${request.name} into ${request.dest}: another filesystem`,
          'put the job directory on the same filesystem as CACHEDIRECTORY (e.g. below it)',
        );
      } else if (code === 'ENOENT') {
        throw new CacheFailure(
          `${request.type}/${request.name} was evicted while being handed out`,
          'retry the job',
          { cause: error },
        );
      } else {
        throw error;
      }
    }
    const updated: Meta = { ...meta, lastUse: Date.now() };
    await this.writeMeta(request.type, request.name, updated);
    return { path: request.dest, size: meta.size, etag: meta.etag, sha256: meta.sha256, hit, waited };
  }

  private async readMeta(type: AssetType, name: string): Promise<Meta | undefined> {
    try {
      return JSON.parse(await readFile(this.metaPath(type, name), 'utf8')) as Meta;
    } catch {
      return undefined;
    }
  }

  private async writeMeta(type: AssetType, name: string, meta: Meta): Promise<void> {
    const path = this.metaPath(type, name);
    const tmp = `${path}.${randomUUID()}.tmp`;
    await writeFile(tmp, JSON.stringify(meta));
    await rename(tmp, path);
  }

  /** Download under the asset's lock; `downloaded` false when another process had just done it. */
  private async download(
    request: AcquireRequest,
    expected: string | undefined,
  ): Promise<{ downloaded: boolean; waited: boolean }> {
    const { type, name } = request;
    const held = await lock(this.lockPath(type, name), request.signal);
    try {
      if (held.contended && (await this.usable(type, name, expected, false)))
        return { downloaded: false, waited: true };
      const facts = await this.statSource(type, name);
      const sha256 = expected ?? facts.sha256?.toLowerCase();
      await this.makeRoom(type, name, facts.size);
      try {
        await this.workers.run(() => this.fetchInto(request, facts, sha256));
      } finally {
        await rm(this.reservePath(type, name), { force: true });
      }
      return { downloaded: true, waited: held.contended };
    } finally {
      await held.release();
    }
  }

  private async statSource(type: AssetType, name: string): Promise<SourceFacts> {
    let lastError: unknown;
    for (let attempt = 1; attempt <= this.retry.attempts; attempt++) {
      try {
        const facts = await this.options.source.stat(type, name);
        if (!facts)
          throw new CacheFailure(
            `${type}/${name} does not exist in ${this.options.source.description}`,
            'check the asset name, or import the asset first',
          );
        return facts;
      } catch (error) {
        lastError = error;
        if (!isTransient(error) || attempt === this.retry.attempts) break;
        this.metrics.retries += 1;
        await this.pause(attempt, type, name, error);
      }
    }
    if (lastError instanceof CacheFailure) throw lastError;
    if (lastError instanceof KubeqaError && !isTransient(lastError)) {
      throw new CacheFailure(`${type}/${name}: ${lastError.message}`, undefined, { cause: lastError });
    }
    throw new CacheFailure(
      `cannot reach ${this.options.source.description} for ${type}/${name}: ${(lastError as Error)?.message ?? String(lastError)}`,
      isTransient(lastError) ? 'the asset source did not answer; the job will be retried' : undefined,
      { cause: lastError },
    );
  }

  private async pause(attempt: number, type: AssetType, name: string, error: unknown): Promise<void> {
    const delay = backoffDelay(attempt, this.retry.baseDelayMs, this.retry.maxDelayMs);
    this.options.log?.warn(
      { asset: `${type}/${name}`, attempt, delayMs: delay, err: String(error) },
      'download failed, retrying',
    );
    await new Promise<void>((resolve) => setTimeout(resolve, delay));
  }

  /** Stream the asset into tmp/, resuming after transient errors, verify it, move it into place. */
  private async fetchInto(
    request: AcquireRequest,
    facts: SourceFacts,
    expected: string | undefined,
  ): Promise<void> {
    const { type, name } = request;
    const tmp = join(this.options.directory, 'tmp', `${type}-${name}.${randomUUID()}.part`);
    const hash = createHash('sha256');
    let written = 0;
    const started = process.hrtime.bigint();
    const handle: FileHandle = await open(tmp, 'w');
    try {
      for (let attempt = 1; ; attempt++) {
        try {
          const stream = await this.options.source.open(type, name, written);
          // Chunks are written in batches (writev, in libuv's thread pool) and hashed meanwhile on
          // this thread; a failed write ends the download, so after any other error `written`
          // and the hash cover exactly what the file holds and the next attempt resumes there.
          const writeBatch = (buffers: Buffer[], callback: (error?: Error | null) => void) => {
            const size = buffers.reduce((sum, b) => sum + b.length, 0);
            const writing = handle.writev(buffers, written);
            for (const b of buffers) hash.update(b);
            writing
              .then(async ({ bytesWritten }) => {
                if (bytesWritten !== size) throw new CacheFailure(`short write to ${tmp} (disk full?)`);
                written += size;
                if (written > facts.size) {
                  throw new CacheFailure(
                    `${type}/${name}: the source sent more than its ${facts.size} bytes`,
                  );
                }
                await request.onProgress?.(written, facts.size);
              })
              .then(() => callback(), callback);
          };
          const sink = new Writable({
            highWaterMark: 256 << 10,
            write: (chunk: Buffer, _encoding, callback) => writeBatch([chunk], callback),
            writev: (chunks, callback) =>
              writeBatch(
                chunks.map((c) => c.chunk as Buffer),
                callback,
              ),
          });
          await pipeline(stream, sink, ...(request.signal ? [{ signal: request.signal }] : []));
          if (written < facts.size) {
            throw Object.assign(new Error(`the connection ended after ${written} of ${facts.size} bytes`), {
              code: 'ECONNRESET',
            });
          }
          break;
        } catch (error) {
          if (request.signal?.aborted || !isTransient(error) || attempt >= this.retry.attempts) {
            throw new CacheFailure(
              `downloading ${type}/${name} from ${this.options.source.description} failed after ${attempt} attempt(s) at byte ${written} of ${facts.size}: ${(error as Error).message ?? String(error)}`,
              isTransient(error) ? 'the asset source stopped answering; the job will be retried' : undefined,
              { cause: error },
            );
          }
          this.metrics.retries += 1;
          await this.pause(attempt, type, name, error);
        }
      }
      const sha256 = hash.digest('hex');
      if (written !== facts.size)
        throw new CacheFailure(`${type}/${name}: got ${written} bytes, expected ${facts.size}`);
      if (expected && sha256 !== expected) {
        throw new CacheFailure(
          `${type}/${name}: checksum mismatch: expected sha256 ${expected}, got ${sha256}; the download was discarded`,
          'the stored asset is corrupted or its recorded checksum is wrong; re-import it',
        );
      }
      const seconds = Number(process.hrtime.bigint() - started) / 1e9;
      this.metrics.recordDownload(written, seconds);
      this.options.log?.info(
        {
          asset: `${type}/${name}`,
          bytes: written,
          seconds: Number(seconds.toFixed(3)),
          rate: `${formatBytes(written / Math.max(seconds, 1e-9))}/s`,
        },
        'downloaded into the cache',
      );
      // Facts first, then the file: a visible file always has its facts.
      const now = Date.now();
      await this.writeMeta(type, name, {
        bootId: this.boot,
        size: written,
        etag: facts.etag,
        sha256,
        lastUse: now,
        downloadedAt: now,
        source: this.options.source.description,
      });
      await rename(tmp, this.assetPath(type, name));
    } catch (error) {
      await rm(tmp, { force: true });
      throw error;
    } finally {
      await handle.close().catch(() => undefined);
    }
  }

  /** What the cache holds now: every asset file with its size, last use and whether a job uses it. */
  async entries(): Promise<(CachedEntry & { type: AssetType; assetName: string })[]> {
    const result: (CachedEntry & { type: AssetType; assetName: string })[] = [];
    for (const type of ASSET_TYPES) {
      let names: string[];
      try {
        names = await readdir(join(this.options.directory, 'assets', type));
      } catch {
        continue;
      }
      for (const name of names) {
        const facts = await stat(this.assetPath(type, name)).catch(() => undefined);
        if (!facts?.isFile()) continue;
        const meta = await this.readMeta(type, name);
        result.push({
          name: `${type}/${name}`,
          type,
          assetName: name,
          size: facts.size,
          lastUse: meta?.lastUse ?? facts.mtimeMs,
          inUse: facts.nlink > 1,
        });
      }
    }
    return result;
  }

  /** Evict least recently used assets until `incoming` more bytes fit; claim the space. */
  private async makeRoom(type: AssetType, name: string, incoming: number): Promise<void> {
    const evictLock = await lock(join(this.options.directory, 'locks', 'evict.lock'));
    try {
      const self = `${type}/${name}`;
      const reserved = await this.reservedByOthers(self);
      await this.evict(incoming + reserved, self);
      await writeFile(
        this.reservePath(type, name),
        JSON.stringify({ bytes: incoming, pid: process.pid, at: Date.now() }),
      );
    } finally {
      await evictLock.release();
    }
  }

  /** Enforce CACHELIMIT and the free-disk minimum now (at start, or after the limit was lowered). */
  async enforceLimits(): Promise<string[]> {
    await this.init();
    const evictLock = await lock(join(this.options.directory, 'locks', 'evict.lock'));
    try {
      return await this.evict(await this.reservedByOthers(''), '', false);
    } finally {
      await evictLock.release();
    }
  }

  private async evict(incoming: number, self: string, mustFit = true): Promise<string[]> {
    const entries = (await this.entries()).filter((e) => e.name !== self);
    const fs = await statfs(this.options.directory);
    const disk = { totalBytes: fs.blocks * fs.bsize, freeBytes: fs.bavail * fs.bsize };
    const plan = planEviction({
      entries,
      limitBytes: this.options.limitBytes,
      incomingBytes: incoming,
      disk,
      minFreePercent: this.options.minFreePercent,
    });
    const evicted: string[] = [];
    let freed = 0;
    for (const entryName of plan.evict) {
      const entry = entries.find((e) => e.name === entryName)!;
      const held = await tryLock(this.lockPath(entry.type, entry.assetName));
      if (!held) continue; // being downloaded right now
      try {
        const facts = await stat(this.assetPath(entry.type, entry.assetName)).catch(() => undefined);
        if (!facts || facts.nlink > 1) continue; // gone, or a job linked it meanwhile
        await rm(this.assetPath(entry.type, entry.assetName), { force: true });
        await rm(this.metaPath(entry.type, entry.assetName), { force: true });
        freed += facts.size;
        evicted.push(entry.name);
        this.metrics.evictions += 1;
        this.metrics.evictedBytes += facts.size;
        this.options.log?.info({ asset: entry.name, bytes: facts.size }, 'evicted from the cache');
      } finally {
        await held.release();
      }
    }
    if (mustFit && (!plan.fits || freed < plan.freedBytes)) {
      throw new CacheFailure(
        plan.fits
          ? `${self}: assets chosen for eviction were taken by jobs meanwhile`
          : `${self}: no room: ${plan.reason}`,
        plan.fits ? 'retry the job' : 'raise CACHELIMIT, free disk space, or wait for running jobs to finish',
      );
    }
    return evicted;
  }

  /** Bytes claimed by downloads running in other processes (stale claims of dead ones are dropped). */
  private async reservedByOthers(self: string): Promise<number> {
    let total = 0;
    for (const type of ASSET_TYPES) {
      let files: string[];
      try {
        files = await readdir(join(this.options.directory, 'reserve', type));
      } catch {
        continue;
      }
      for (const file of files) {
        if (!file.endsWith('.json')) continue;
        const name = file.slice(0, -'.json'.length);
        if (`${type}/${name}` === self) continue;
        const path = join(this.options.directory, 'reserve', type, file);
        // A claim counts while its download holds the asset's lock; otherwise its owner died.
        let held: HeldLock | undefined;
        try {
          held = await tryLock(this.lockPath(type, name));
        } catch {
          held = undefined;
        }
        if (held) {
          await rm(path, { force: true });
          await held.release();
          continue;
        }
        try {
          total += (JSON.parse(await readFile(path, 'utf8')) as { bytes: number }).bytes;
        } catch {
          // removed meanwhile
        }
      }
    }
    return total;
  }

  /** Gauges for the metrics endpoint. */
  async usage(): Promise<{ cachedBytes: number; cachedAssets: number; limitBytes: number }> {
    const entries = await this.entries();
    return {
      cachedBytes: entries.reduce((sum, e) => sum + e.size, 0),
      cachedAssets: entries.length,
      limitBytes: this.options.limitBytes,
    };
  }
}

async function hashFile(path: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(path, { highWaterMark: 1 << 20 })) hash.update(chunk as Buffer);
  return hash.digest('hex');
}
