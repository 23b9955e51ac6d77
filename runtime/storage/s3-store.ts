// The asset store on S3 (MinIO, Ceph RGW, AWS S3, …) through the `minio` client. Uploads are
// streamed in parts (multipart for anything larger than one part, so multi-GB images never sit
// in memory), every part is retried with backoff, and the checksum is checked before the upload
// is completed: a mismatch aborts the multipart upload, so no half-written object ever appears.
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { Agent as HttpsAgent } from 'node:https';
import type { Readable } from 'node:stream';
import * as Minio from 'minio';
import { KubeqaError } from '../../domain/errors.js';
import type { Logger } from '../logger.js';
import { isTransient, type RetryOptions, withRetry } from './retry.js';
import {
  type AssetStore,
  checkKey,
  type GetOptions,
  type PutOptions,
  type PutResult,
  type StoredObject,
} from './store.js';

export interface S3StoreConfig {
  endPoint: string;
  port?: number;
  useSSL: boolean;
  accessKey: string;
  secretKey: string;
  region?: string;
  bucket: string;
  /** Prepended to every key ("assets/" keeps assets apart from other data in the bucket). */
  prefix?: string;
  /** A PEM CA bundle to trust for TLS (a private CA in front of MinIO). */
  caFile?: string;
  /** Bytes per multipart part (default 16 MiB; raised automatically to stay under 10 000 parts). */
  partSize?: number;
  /** Parts uploaded at the same time (default 2). */
  uploadConcurrency?: number;
  retry?: Partial<RetryOptions>;
  log?: Logger;
}

const MIN_PART = 5 * 1024 * 1024;
const DEFAULT_PART = 16 * 1024 * 1024;
const MAX_PARTS = 10_000;
const SHA_META = 'kubeqa-sha256';

export class S3Store implements AssetStore {
  readonly kind = 's3' as const;
  readonly description: string;
  readonly client: Minio.Client;
  private readonly prefix: string;

  constructor(private readonly config: S3StoreConfig) {
    this.prefix = config.prefix ?? '';
    if (this.prefix && !this.prefix.endsWith('/')) this.prefix += '/';
    const scheme = config.useSSL ? 'https' : 'http';
    this.description = `s3 ${scheme}://${config.endPoint}${config.port ? `:${config.port}` : ''}/${config.bucket}/${this.prefix}`;
    this.client = new Minio.Client({
      endPoint: config.endPoint,
      ...(config.port ? { port: config.port } : {}),
      useSSL: config.useSSL,
      accessKey: config.accessKey,
      secretKey: config.secretKey,
      ...(config.region ? { region: config.region } : {}),
      ...(config.caFile
        ? { transportAgent: new HttpsAgent({ ca: readFileSync(config.caFile), keepAlive: true }) }
        : {}),
      // Retries are ours (with logging and resumption); the client's own would hide them.
      retryOptions: { disableRetry: true },
    });
  }

  get bucket(): string {
    return this.config.bucket;
  }

  location(key: string): string {
    return `s3://${this.config.bucket}/${this.prefix}${checkKey(key)}`;
  }

  /** Where an s3:// URL of the same endpoint points: bucket and object name (no prefix added). */
  async openExternal(bucket: string, objectName: string, offset = 0): Promise<Readable> {
    return this.retrying(`get s3://${bucket}/${objectName}`, () =>
      offset > 0
        ? this.client.getPartialObject(bucket, objectName, offset)
        : this.client.getObject(bucket, objectName),
    ).catch((error) => {
      throw this.translate(error, `s3://${bucket}/${objectName}`);
    });
  }

  async statExternal(
    bucket: string,
    objectName: string,
  ): Promise<{ size: number; etag: string } | undefined> {
    try {
      const stat = await this.retrying(`stat s3://${bucket}/${objectName}`, () =>
        this.client.statObject(bucket, objectName),
      );
      return { size: stat.size, etag: stat.etag };
    } catch (error) {
      if (isNotFound(error)) return undefined;
      throw this.translate(error, `s3://${bucket}/${objectName}`);
    }
  }

  private objectName(key: string): string {
    return `${this.prefix}${checkKey(key)}`;
  }

  private retrying<T>(what: string, fn: () => Promise<T>): Promise<T> {
    return withRetry(fn, {
      ...this.config.retry,
      onRetry: (error, attempt, delayMs) =>
        this.config.log?.warn({ what, attempt, delayMs, err: String(error) }, 'S3 request failed, retrying'),
    });
  }

  private translate(error: unknown, what: string): Error {
    if (error instanceof KubeqaError) return error;
    if (isNotFound(error))
      return new KubeqaError('KQ_ERR_NOT_FOUND', `${what} does not exist in ${this.description}`);
    const message = error instanceof Error ? error.message : String(error);
    return new KubeqaError(
      'KQ_ERR_STORAGE',
      `S3 request for ${what} failed: ${message}`,
      isTransient(error)
        ? 'the S3 service did not answer; check that it runs and is reachable, then retry'
        : 'check the S3 endpoint, bucket and credentials',
      { cause: error },
    );
  }

  async put(key: string, body: Readable, options: PutOptions = {}): Promise<PutResult> {
    const name = this.objectName(key);
    const expected = options.expectedSha256?.toLowerCase();
    let partSize = this.config.partSize ?? DEFAULT_PART;
    if (options.size !== undefined) partSize = Math.max(partSize, Math.ceil(options.size / MAX_PARTS));
    partSize = Math.max(MIN_PART, partSize);
    const concurrency = Math.max(1, this.config.uploadConcurrency ?? 2);
    const headers: Record<string, string> = {
      'Content-Type': options.contentType ?? 'application/octet-stream',
      ...(expected ? { [`x-amz-meta-${SHA_META}`]: expected } : {}),
    };
    const hash = createHash('sha256');
    let received = 0;
    let pending: Buffer[] = [];
    let pendingBytes = 0;
    let uploadId: string | undefined;
    const parts: { part: number; etag: string }[] = [];
    const inFlight = new Set<Promise<void>>();
    let failure: unknown;
    let partNumber = 0;

    const startPart = async (data: Buffer) => {
      if (!uploadId) {
        uploadId = await this.retrying(`start upload of ${name}`, () =>
          this.client.initiateNewMultipartUpload(this.config.bucket, name, headers),
        );
      }
      const id = uploadId;
      partNumber += 1;
      const number = partNumber;
      const task = this.retrying(`upload part ${number} of ${name}`, () =>
        this.client.uploadPart(
          { bucketName: this.config.bucket, objectName: name, uploadID: id, partNumber: number, headers: {} },
          data,
        ),
      ).then(
        (result) => {
          parts.push({ part: number, etag: result.etag });
        },
        (error: unknown) => {
          failure ??= error;
        },
      );
      const tracked = task.finally(() => inFlight.delete(tracked));
      inFlight.add(tracked);
      while (inFlight.size >= concurrency) await Promise.race(inFlight);
      if (failure) throw failure;
    };

    const takePart = (): Buffer => {
      const all = pending.length === 1 ? pending[0]! : Buffer.concat(pending, pendingBytes);
      const part = all.subarray(0, partSize);
      const rest = all.subarray(partSize);
      pending = rest.length > 0 ? [rest] : [];
      pendingBytes = rest.length;
      return part;
    };

    try {
      for await (const chunk of body) {
        const buffer = typeof chunk === 'string' ? Buffer.from(chunk) : (chunk as Buffer);
        hash.update(buffer);
        received += buffer.length;
        options.onProgress?.(received);
        pending.push(buffer);
        pendingBytes += buffer.length;
        while (pendingBytes >= partSize) await startPart(takePart());
        if (failure) throw failure;
      }
      const sha256 = hash.digest('hex');
      if (options.size !== undefined && received !== options.size) {
        throw new KubeqaError(
          'KQ_ERR_CHECKSUM_MISMATCH',
          `${key}: received ${received} bytes, expected ${options.size}`,
          'the source ended early or has a different size than announced; nothing was stored',
        );
      }
      if (expected && sha256 !== expected) {
        throw new KubeqaError(
          'KQ_ERR_CHECKSUM_MISMATCH',
          `${key}: checksum mismatch: expected sha256 ${expected}, got ${sha256}`,
          'the source is not the file the checksum describes (or it was corrupted on the way); nothing was stored',
        );
      }
      if (!uploadId) {
        // Smaller than one part: a single PUT of what is in memory, after the checksum was checked.
        const data = pending.length === 1 ? pending[0]! : Buffer.concat(pending, pendingBytes);
        await this.retrying(`put ${name}`, () =>
          this.client.putObject(this.config.bucket, name, data, data.length, {
            'Content-Type': headers['Content-Type'],
            ...(expected ? { [SHA_META]: expected } : {}),
          }),
        );
      } else {
        if (pendingBytes > 0) await startPart(takePart());
        await Promise.all(inFlight);
        if (failure) throw failure;
        parts.sort((a, b) => a.part - b.part);
        const id = uploadId;
        await this.retrying(`complete upload of ${name}`, () =>
          this.client.completeMultipartUpload(this.config.bucket, name, id, parts),
        );
      }
      const stat = await this.stat(key);
      if (!stat)
        throw new KubeqaError(
          'KQ_ERR_STORAGE',
          `${key} is missing right after its upload to ${this.description}`,
        );
      return { ...stat, sha256 };
    } catch (error) {
      await Promise.allSettled(inFlight);
      if (uploadId) {
        const id = uploadId;
        await this.client.abortMultipartUpload(this.config.bucket, name, id).catch((abortError: unknown) => {
          this.config.log?.warn({ key, err: String(abortError) }, 'could not abort the multipart upload');
        });
      }
      if (!body.destroyed) body.destroy();
      throw this.translate(error, key);
    }
  }

  async get(key: string, options: GetOptions = {}): Promise<Readable> {
    const name = this.objectName(key);
    const offset = options.offset ?? 0;
    try {
      return await this.retrying(`get ${name}`, () =>
        offset > 0
          ? this.client.getPartialObject(this.config.bucket, name, offset)
          : this.client.getObject(this.config.bucket, name),
      );
    } catch (error) {
      throw this.translate(error, key);
    }
  }

  async stat(key: string): Promise<StoredObject | undefined> {
    const name = this.objectName(key);
    try {
      const stat = await this.retrying(`stat ${name}`, () =>
        this.client.statObject(this.config.bucket, name),
      );
      const sha256 = (stat.metaData as Record<string, string> | undefined)?.[SHA_META];
      return {
        key,
        size: stat.size,
        etag: stat.etag,
        lastModified: stat.lastModified,
        ...(sha256 ? { sha256 } : {}),
      };
    } catch (error) {
      if (isNotFound(error)) return undefined;
      throw this.translate(error, key);
    }
  }

  async delete(key: string): Promise<void> {
    const name = this.objectName(key);
    try {
      await this.retrying(`delete ${name}`, () => this.client.removeObject(this.config.bucket, name));
    } catch (error) {
      if (!isNotFound(error)) throw this.translate(error, key);
    }
  }

  async *list(prefix = ''): AsyncIterable<StoredObject> {
    const stream = this.client.listObjectsV2(this.config.bucket, `${this.prefix}${prefix}`, true);
    for await (const item of stream as AsyncIterable<Minio.BucketItem>) {
      if (!item.name) continue;
      yield {
        key: item.name.slice(this.prefix.length),
        size: item.size,
        etag: item.etag,
        lastModified: item.lastModified,
      };
    }
  }
}

export function isNotFound(error: unknown): boolean {
  const code = (error as { code?: unknown } | undefined)?.code;
  return code === 'NoSuchKey' || code === 'NotFound' || code === 'NoSuchObject';
}
