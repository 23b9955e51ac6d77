// The asset store's two implementations behave the same: S3 against the harness's real MinIO, and
// the local directory of the embedded mode. Uploads are atomic and verified; nothing half-written
// stays after a checksum mismatch or a broken source.
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LocalStore } from '../../runtime/storage/local-store.js';
import { S3Store } from '../../runtime/storage/s3-store.js';
import type { AssetStore } from '../../runtime/storage/store.js';
import { testEnv } from '../env/index.js';
import { freshBucket, minioClient, randomData, readAll, s3Config, sha256, streamOf } from './helpers.js';

const MiB = 1024 * 1024;
const dirs: string[] = [];
afterAll(() => {
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

/** A source that sends `data` and then fails, like a connection dropped mid-transfer. */
function brokenSource(data: Buffer): Readable {
  let sent = false;
  return new Readable({
    read() {
      if (!sent) {
        sent = true;
        this.push(data);
      } else {
        this.destroy(Object.assign(new Error('source connection reset'), { code: 'ECONNRESET' }));
      }
    },
  });
}

interface Case {
  name: string;
  make: () => Promise<{ store: AssetStore; leftovers: () => Promise<string[]> }>;
}

const cases: Case[] = [
  {
    name: 'S3 (MinIO)',
    async make() {
      const info = await testEnv.minio();
      const bucket = await freshBucket(info, 'store');
      // 5 MiB parts so a 12 MiB object is a real multipart upload.
      const store = new S3Store({ ...s3Config(info, bucket), partSize: 5 * MiB });
      const client = minioClient(info);
      return {
        store,
        async leftovers() {
          const names: string[] = [];
          for await (const item of client.listIncompleteUploads(bucket, '', true))
            names.push(`incomplete:${item.key}`);
          for await (const item of client.listObjectsV2(bucket, '', true))
            names.push((item as { name: string }).name);
          return names;
        },
      };
    },
  },
  {
    name: 'local directory',
    async make() {
      const dir = mkdtempSync(join(tmpdir(), 'kubeqa-store-'));
      dirs.push(dir);
      const store = new LocalStore(dir);
      return {
        store,
        async leftovers() {
          const tmp = join(dir, '.kubeqa-tmp');
          const names: string[] = [];
          try {
            names.push(...readdirSync(tmp).map((n) => `tmp:${n}`));
          } catch {
            // never created
          }
          for await (const item of store.list()) names.push(item.key);
          return names;
        },
      };
    },
  },
];

describe.each(cases)('asset store: $name', ({ make }) => {
  let store: AssetStore;
  let leftovers: () => Promise<string[]>;
  beforeAll(async () => {
    ({ store, leftovers } = await make());
  });

  it('stores a multipart-sized object, verifies its checksum, and reads it back from any offset', async () => {
    const data = randomData(12 * MiB + 123, 7);
    const progress: number[] = [];
    const put = await store.put('hdd/disk.qcow2', streamOf(data), {
      size: data.length,
      expectedSha256: sha256(data),
      onProgress: (bytes) => progress.push(bytes),
    });
    expect(put.size).toBe(data.length);
    expect(put.sha256).toBe(sha256(data));
    expect(progress.at(-1)).toBe(data.length);
    const facts = await store.stat('hdd/disk.qcow2');
    expect(facts?.size).toBe(data.length);
    expect(facts?.sha256).toBe(sha256(data));
    expect(facts?.etag).toBeTruthy();
    expect(sha256(await readAll(await store.get('hdd/disk.qcow2')))).toBe(sha256(data));
    const tail = await readAll(await store.get('hdd/disk.qcow2', { offset: 10 * MiB }));
    expect(tail.equals(data.subarray(10 * MiB))).toBe(true);
    const listed: string[] = [];
    for await (const item of store.list('hdd/')) listed.push(item.key);
    expect(listed).toEqual(['hdd/disk.qcow2']);
  });

  it('keeps nothing when the checksum does not match, and the previous object stays', async () => {
    const good = randomData(2 * MiB, 1);
    await store.put('iso/keep.iso', streamOf(good), { expectedSha256: sha256(good) });
    const before = await leftovers();
    for (const size of [MiB, 12 * MiB]) {
      const other = randomData(size, 2);
      await expect(
        store.put('iso/keep.iso', streamOf(other), { expectedSha256: sha256(good) }),
      ).rejects.toMatchObject({
        code: 'KQ_ERR_CHECKSUM_MISMATCH',
        message: expect.stringContaining('checksum mismatch'),
      });
      await expect(
        store.put('iso/new.iso', streamOf(other), { expectedSha256: sha256(good) }),
      ).rejects.toMatchObject({
        code: 'KQ_ERR_CHECKSUM_MISMATCH',
      });
    }
    expect(await leftovers()).toEqual(before);
    expect(sha256(await readAll(await store.get('iso/keep.iso')))).toBe(sha256(good));
    expect(await store.stat('iso/new.iso')).toBeUndefined();
  });

  it('keeps nothing when the source breaks mid-transfer or is shorter than announced', async () => {
    const before = await leftovers();
    await expect(store.put('iso/broken.iso', brokenSource(randomData(11 * MiB, 3)))).rejects.toThrow(/reset/);
    await expect(
      store.put('iso/short.iso', streamOf(randomData(MiB, 4)), { size: 2 * MiB }),
    ).rejects.toMatchObject({
      code: 'KQ_ERR_CHECKSUM_MISMATCH',
    });
    expect(await leftovers()).toEqual(before);
  });

  it('answers missing objects clearly and deletes idempotently', async () => {
    expect(await store.stat('other/missing')).toBeUndefined();
    await expect(store.get('other/missing')).rejects.toMatchObject({ code: 'KQ_ERR_NOT_FOUND' });
    await store.put('other/gone', streamOf(Buffer.from('x')));
    await store.delete('other/gone');
    await store.delete('other/gone');
    expect(await store.stat('other/gone')).toBeUndefined();
    await expect(store.stat('../escape')).rejects.toThrow(/invalid store key/);
  });
});
