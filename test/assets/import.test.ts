// Importing assets from a URL into the store (the real MinIO): a multi-GB sparse disk image
// streamed with its checksum verified, s3:// sources, decompression, and failures that keep
// nothing half-written and say why.
import { execFileSync } from 'node:child_process';
import { closeSync, mkdtempSync, openSync, rmSync, statSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type ImportProgress, importAsset } from '../../runtime/storage/import.js';
import { S3Store } from '../../runtime/storage/s3-store.js';
import { testEnv } from '../env/index.js';
import type { MinioInfo } from '../env/services/minio.js';
import { requireCommand } from '../env/system.js';
import { type HttpSource, startHttpSource } from '../helpers/http-source.js';
import { freshBucket, minioClient, randomData, readAll, s3Config, sha256, sha256OfFile } from './helpers.js';

const GiB = 1024 ** 3;
/** Over 4 GiB (past 32-bit sizes) and over S3's 5 GiB single-PUT limit is not needed: multipart either way. */
const SPARSE_SIZE = 4 * GiB + 4097;

const dir = mkdtempSync(join(tmpdir(), 'kubeqa-import-'));
let source: HttpSource;

beforeAll(async () => {
  source = await startHttpSource();
});
afterAll(async () => {
  await source?.close();
  rmSync(dir, { recursive: true, force: true });
});

async function leftovers(info: MinioInfo, bucket: string): Promise<string[]> {
  const names: string[] = [];
  for await (const item of minioClient(info).listIncompleteUploads(bucket, '', true))
    names.push(`incomplete:${item.key}`);
  for await (const item of minioClient(info).listObjectsV2(bucket, '', true))
    names.push((item as { name: string }).name);
  return names;
}

describe('asset import', () => {
  it('streams a multi-GB sparse disk image over HTTP into S3 with its sha256 verified', {
    timeout: 900_000,
  }, async () => {
    const info = await testEnv.minio();
    const bucket = await freshBucket(info, 'import-big');
    const store = new S3Store({
      ...s3Config(info, bucket),
      partSize: 64 * 1024 * 1024,
      uploadConcurrency: 3,
    });
    // A sparse file costs no disk: holes everywhere but a few marked bytes.
    const image = join(dir, 'big.raw');
    const fd = openSync(image, 'w');
    writeSync(fd, Buffer.from('kubeqa-start'), 0, 12, 0);
    writeSync(fd, Buffer.from('middle'), 0, 6, 2 * GiB + 17);
    writeSync(fd, Buffer.from('end'), 0, 3, SPARSE_SIZE - 3);
    closeSync(fd);
    expect(statSync(image).size).toBe(SPARSE_SIZE);
    expect(statSync(image).blocks * 512).toBeLessThan(1024 * 1024);
    const expected = await sha256OfFile(image);
    source.serve('/big.raw', { file: image });

    const progress: ImportProgress[] = [];
    const result = await importAsset(store, {
      source: `${source.url}/big.raw`,
      key: 'hdd/big.raw',
      sha256: expected,
      onProgress: (p) => progress.push(p),
      progressIntervalMs: 0,
    });
    expect(result).toMatchObject({ key: 'hdd/big.raw', size: SPARSE_SIZE, sha256: expected, attempts: 1 });
    expect(progress.length).toBeGreaterThan(10);
    expect(progress.every((p, i) => i === 0 || p.bytes >= progress[i - 1]!.bytes)).toBe(true);
    expect(progress.at(-1)).toMatchObject({ bytes: SPARSE_SIZE, total: SPARSE_SIZE });
    const facts = await store.stat('hdd/big.raw');
    expect(facts).toMatchObject({ size: SPARSE_SIZE, sha256: expected });
    // The bytes MinIO holds are the image's: the marks at the start, the middle and the end.
    expect((await readAll(await store.get('hdd/big.raw', { offset: SPARSE_SIZE - 3 }))).toString()).toBe(
      'end',
    );
    const middle = await store.client.getPartialObject(bucket, 'assets/hdd/big.raw', 2 * GiB + 17, 6);
    expect((await readAll(middle)).toString()).toBe('middle');
    expect(await leftovers(info, bucket)).toEqual(['assets/hdd/big.raw']);
    await store.delete('hdd/big.raw'); // give MinIO's disk back
  });

  it('fails a checksum mismatch with the reason and keeps nothing', async () => {
    const info = await testEnv.minio();
    const bucket = await freshBucket(info, 'import-bad');
    const store = new S3Store({ ...s3Config(info, bucket), partSize: 5 * 1024 * 1024 });
    const data = randomData(12 * 1024 * 1024, 11);
    source.serve('/corrupt.iso', data);
    const wrong = sha256(Buffer.from('something else'));
    const before = source.requests;
    await expect(
      importAsset(store, { source: `${source.url}/corrupt.iso`, key: 'iso/corrupt.iso', sha256: wrong }),
    ).rejects.toMatchObject({
      code: 'KQ_ERR_CHECKSUM_MISMATCH',
      message: expect.stringMatching(
        new RegExp(`checksum mismatch: expected sha256 ${wrong}, got ${sha256(data)}`),
      ),
    });
    expect(source.requests - before).toBe(1); // a mismatch is not retried
    expect(await leftovers(info, bucket)).toEqual([]);
  });

  it('says what is wrong with a missing or unreachable source, retrying only what may recover', async () => {
    const info = await testEnv.minio();
    const store = new S3Store(s3Config(info, await freshBucket(info, 'import-404')));
    const before = source.requests;
    await expect(
      importAsset(store, { source: `${source.url}/nope.iso`, key: 'iso/nope.iso' }),
    ).rejects.toMatchObject({
      code: 'KQ_ERR_DOWNLOAD',
      message: expect.stringContaining('answered 404'),
    });
    expect(source.requests - before).toBe(1);
    // Nothing listens on port 9 of loopback: connection refused, retried with backoff, then a clear error.
    const retried: number[] = [];
    await expect(
      importAsset(store, {
        source: 'http://127.0.0.1:9/x.iso',
        key: 'iso/x.iso',
        retry: { attempts: 3, baseDelayMs: 10, maxDelayMs: 20 },
        log: { warn: (o: { attempt: number }) => retried.push(o.attempt) } as never,
      }),
    ).rejects.toMatchObject({
      code: 'KQ_ERR_DOWNLOAD',
      message: expect.stringMatching(/failed after 3 attempt\(s\)/),
    });
    expect(retried).toEqual([1, 2]);
    await expect(importAsset(store, { source: 'ftp://example.org/x.iso', key: 'iso/x.iso' })).rejects.toThrow(
      /cannot import from 'ftp:' URLs/,
    );
  });

  it('imports from s3:// and decompresses gzip', async () => {
    const info = await testEnv.minio();
    const sourceBucket = await freshBucket(info, 'import-src');
    const store = new S3Store(s3Config(info, await freshBucket(info, 'import-dst')));
    const data = randomData(3 * 1024 * 1024, 5);
    await minioClient(info).putObject(sourceBucket, 'builds/42/kernel', data);
    const fromS3 = await importAsset(store, {
      source: `s3://${sourceBucket}/builds/42/kernel`,
      key: 'other/kernel',
      sha256: sha256(data),
    });
    expect(fromS3).toMatchObject({ size: data.length, sha256: sha256(data) });

    source.serve('/disk.raw.gz', gzipSync(data));
    const unpacked = await importAsset(store, {
      source: `${source.url}/disk.raw.gz`,
      key: 'hdd/disk.raw',
      sha256: sha256(data),
      decompress: 'gzip',
    });
    expect(unpacked).toMatchObject({ size: data.length, sha256: sha256(data) });
    expect(sha256(await readAll(await store.get('hdd/disk.raw')))).toBe(sha256(data));
  });

  it('fails a truncated xz download with the reason and keeps nothing, even without a checksum', async () => {
    requireCommand('xz', ['xz-utils']);
    const info = await testEnv.minio();
    const bucket = await freshBucket(info, 'import-xz');
    const store = new S3Store(s3Config(info, bucket));
    const data = Buffer.concat([Buffer.from(randomData(1024 * 1024, 9)), Buffer.alloc(8 * 1024 * 1024, 1)]);
    const packed = execFileSync('xz', ['-c'], { input: data, maxBuffer: 64 * 1024 * 1024 });
    // the file on the server is cut short (the server sends all of it: only xz can tell)
    source.serve('/disk.raw.xz', packed.subarray(0, Math.floor(packed.length * 0.8)));
    const before = source.requests;
    await expect(
      importAsset(store, { source: `${source.url}/disk.raw.xz`, key: 'hdd/disk.raw', decompress: 'xz' }),
    ).rejects.toMatchObject({
      code: 'KQ_ERR_DOWNLOAD',
      message: expect.stringMatching(/xz could not decompress the download: .*Unexpected end of input/),
    });
    expect(source.requests - before).toBe(1); // bad data is not retried
    expect(await leftovers(info, bucket)).toEqual([]);
  });
});
