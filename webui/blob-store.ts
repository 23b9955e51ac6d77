// Content-addressed result files (screenshots, logs, videos): stored once per SHA-256, in a
// directory (embedded mode) or an S3 bucket (deployments; MinIO in tests). Key layout in both:
// <prefix><first two hex digits>/<sha256>.
import { createHash, randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import * as Minio from 'minio';

export interface BlobStore {
  /** Stores `data` under its SHA-256; `created` is false when the content was there already. */
  put(data: Buffer, contentType?: string): Promise<{ hash: string; created: boolean }>;
  /** The content, or undefined when no file has this hash. */
  get(hash: string): Promise<Buffer | undefined>;
}

export function sha256Of(data: Buffer): string {
  return createHash('sha256').update(data).digest('hex');
}

function keyOf(hash: string): string {
  return `${hash.slice(0, 2)}/${hash}`;
}

/** Files under `dir`, written to a temporary name and renamed (a reader never sees half a file). */
export function dirBlobStore(dir: string): BlobStore {
  return {
    async put(data) {
      const hash = sha256Of(data);
      const path = join(dir, keyOf(hash));
      if (existsSync(path)) return { hash, created: false };
      await mkdir(join(dir, hash.slice(0, 2)), { recursive: true });
      const tmp = `${path}.${randomBytes(6).toString('hex')}.tmp`;
      await writeFile(tmp, data);
      await rename(tmp, path);
      return { hash, created: true };
    },
    async get(hash) {
      const path = join(dir, keyOf(hash));
      return existsSync(path) ? readFile(path) : undefined;
    },
  };
}

export interface S3BlobOptions {
  endPoint: string;
  port?: number;
  useSSL?: boolean;
  accessKey: string;
  secretKey: string;
  bucket: string;
  /** Key prefix inside the bucket (default "blobs/"). */
  prefix?: string;
  region?: string;
}

/** Objects in an S3 bucket; an existing object (same hash) is not uploaded again. */
export function s3BlobStore(options: S3BlobOptions): BlobStore {
  const client = new Minio.Client({
    endPoint: options.endPoint,
    port: options.port,
    useSSL: options.useSSL ?? true,
    accessKey: options.accessKey,
    secretKey: options.secretKey,
    region: options.region,
  });
  const prefix = options.prefix ?? 'blobs/';
  const exists = async (key: string) => {
    try {
      await client.statObject(options.bucket, key);
      return true;
    } catch (error) {
      if (
        (error as { code?: string }).code === 'NotFound' ||
        (error as { code?: string }).code === 'NoSuchKey'
      )
        return false;
      throw error;
    }
  };
  return {
    async put(data, contentType = 'application/octet-stream') {
      const hash = sha256Of(data);
      const key = `${prefix}${keyOf(hash)}`;
      if (await exists(key)) return { hash, created: false };
      await client.putObject(options.bucket, key, data, data.length, { 'Content-Type': contentType });
      return { hash, created: true };
    },
    async get(hash) {
      const key = `${prefix}${keyOf(hash)}`;
      if (!(await exists(key))) return undefined;
      const stream = await client.getObject(options.bucket, key);
      const chunks: Buffer[] = [];
      for await (const chunk of stream) chunks.push(chunk as Buffer);
      return Buffer.concat(chunks);
    },
  };
}
