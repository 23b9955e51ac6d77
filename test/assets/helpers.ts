// Shared pieces of the asset tests: S3 settings for the harness's MinIO, fresh buckets, and
// MinIO's own request counters (its Prometheus bucket metrics) to count GETs.
import { createHash, randomBytes } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { Readable } from 'node:stream';
import * as Minio from 'minio';
import type { S3StoreConfig } from '../../runtime/storage/s3-store.js';
import type { MinioInfo } from '../env/services/minio.js';

export function minioClient(info: MinioInfo): Minio.Client {
  return new Minio.Client({
    endPoint: info.endPoint,
    port: info.port,
    useSSL: false,
    accessKey: info.accessKey,
    secretKey: info.secretKey,
  });
}

/** A new bucket of its own, so counts and listings see only this test's requests. */
/** Every key in the bucket, incomplete multipart uploads as `incomplete:<key>`. */
export async function bucketContents(info: MinioInfo, bucket: string): Promise<string[]> {
  const names: string[] = [];
  const minio = minioClient(info);
  for await (const item of minio.listIncompleteUploads(bucket, '', true))
    names.push(`incomplete:${item.key}`);
  for await (const item of minio.listObjectsV2(bucket, '', true)) names.push((item as { name: string }).name);
  return names;
}

export async function freshBucket(info: MinioInfo, label: string): Promise<string> {
  const bucket = `${label}-${randomBytes(4).toString('hex')}`;
  await minioClient(info).makeBucket(bucket);
  return bucket;
}

export function s3Config(info: MinioInfo, bucket: string, prefix = 'assets/'): S3StoreConfig {
  return {
    endPoint: info.endPoint,
    port: info.port,
    useSSL: false,
    accessKey: info.accessKey,
    secretKey: info.secretKey,
    bucket,
    prefix,
  };
}

/** The environment a cache process needs to reach that bucket. */
export function s3Env(info: MinioInfo, bucket: string, prefix = 'assets/'): Record<string, string> {
  return {
    KUBEQA_S3_ENDPOINT: info.url,
    KUBEQA_S3_ACCESS_KEY: info.accessKey,
    KUBEQA_S3_SECRET_KEY: info.secretKey,
    KUBEQA_S3_BUCKET: bucket,
    KUBEQA_S3_PREFIX: prefix,
  };
}

/**
 * MinIO's own count of requests of one S3 API (GetObject, HeadObject, PutObject, …) on a bucket,
 * from its v3 per-bucket metrics (`minio_bucket_api_total`), which are current; the v2 endpoints
 * answer from a cache that lags by about ten seconds.
 */
export async function bucketRequests(info: MinioInfo, bucket: string, api: string): Promise<number> {
  const url = info.metricsUrl.replace(
    /\/minio\/v2\/metrics\/node$/,
    `/minio/metrics/v3/bucket/api/${bucket}`,
  );
  const text = await (await fetch(url)).text();
  let total = 0;
  for (const line of text.split('\n')) {
    if (!line.startsWith('minio_bucket_api_total{')) continue;
    if (!line.includes(`name="${api}"`) || !line.includes(`bucket="${bucket}"`)) continue;
    total += Number(line.slice(line.lastIndexOf(' ') + 1));
  }
  return total;
}

/** `size` bytes of pseudo-random data, deterministic per seed, as a Buffer. */
export function randomData(size: number, seed = 1): Buffer {
  const out = Buffer.alloc(size);
  let block = createHash('sha256').update(String(seed)).digest();
  for (let offset = 0; offset < size; offset += block.length) {
    block.copy(out, offset);
    block = createHash('sha256').update(block).digest();
  }
  return out;
}

export function sha256(data: Buffer): string {
  return createHash('sha256').update(data).digest('hex');
}

export async function sha256OfFile(path: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(path, { highWaterMark: 1 << 20 })) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

export async function readAll(stream: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

export function streamOf(data: Buffer): Readable {
  return Readable.from([data]);
}
