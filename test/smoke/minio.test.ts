// MinIO built from source and started by the harness: a 100 MB object goes in and comes back.
import { createHash, randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import * as Minio from 'minio';
import { describe, expect, it } from 'vitest';
import { testEnv } from '../env/index.js';

const SIZE = 100 * 1024 * 1024;
const CHUNK = 1024 * 1024;

/** 100 MB of pseudo-random bytes, streamed (never held in memory whole), and its sha256. */
function payload(): { stream: Readable; digest: Promise<string> } {
  const hash = createHash('sha256');
  const block = randomBytes(CHUNK);
  let sent = 0;
  let resolveDigest!: (value: string) => void;
  const digest = new Promise<string>((resolve) => {
    resolveDigest = resolve;
  });
  const stream = new Readable({
    read() {
      if (sent >= SIZE) {
        resolveDigest(hash.digest('hex'));
        this.push(null);
        return;
      }
      // Vary each chunk so deduplication or compression cannot make the test trivial.
      const chunk = Buffer.from(block);
      chunk.writeUInt32LE(sent / CHUNK, 0);
      hash.update(chunk);
      sent += CHUNK;
      this.push(chunk);
    },
  });
  return { stream, digest };
}

describe('MinIO started by the harness', () => {
  it('puts, lists and gets a 100 MB object', async () => {
    const info = await testEnv.minio();
    const client = new Minio.Client({
      endPoint: info.endPoint,
      port: info.port,
      useSSL: false,
      accessKey: info.accessKey,
      secretKey: info.secretKey,
    });
    const { stream, digest } = payload();
    await client.putObject(info.bucket, 'smoke/big.bin', stream, SIZE);
    const expected = await digest;

    const listed: Minio.BucketItem[] = [];
    for await (const item of client.listObjectsV2(info.bucket, 'smoke/', true))
      listed.push(item as Minio.BucketItem);
    expect(listed.map((item) => [item.name, item.size])).toEqual([['smoke/big.bin', SIZE]]);

    const hash = createHash('sha256');
    let received = 0;
    for await (const chunk of await client.getObject(info.bucket, 'smoke/big.bin')) {
      hash.update(chunk as Buffer);
      received += (chunk as Buffer).length;
    }
    expect(received).toBe(SIZE);
    expect(hash.digest('hex')).toBe(expected);

    // Wrong credentials are refused by the real server.
    const intruder = new Minio.Client({
      endPoint: info.endPoint,
      port: info.port,
      useSSL: false,
      accessKey: 'x',
      secretKey: 'wrong-secret',
    });
    await expect(intruder.statObject(info.bucket, 'smoke/big.bin')).rejects.toThrow();
  });
});
