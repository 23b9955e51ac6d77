// MinIO stops in the middle of a download: the cache retries with backoff (resuming where it
// was), then gives up with a clear `cache failure: …`; once MinIO is back, the job's retry
// succeeds. This file starts its own MinIO (the harness's startMinio) so it can kill and restart
// it without disturbing other tests.
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { afterAll, describe, expect, it } from 'vitest';
import { S3Store } from '../../runtime/storage/s3-store.js';
import { AssetCache } from '../../worker-image/cache/cache.js';
import { StoreSource } from '../../worker-image/cache/sources.js';
import type { ManagedProcess } from '../env/processes.js';
import { startMinio } from '../env/services/minio.js';
import { requireCommand } from '../env/system.js';
import { s3Config, sha256 } from './helpers.js';

const MiB = 1024 * 1024;
const cacheDir = mkdtempSync(join(tmpdir(), 'kubeqa-outage-'));
let current: { proc: ManagedProcess; dir: string } | undefined;
afterAll(async () => {
  await current?.proc.stop();
  if (current) rmSync(current.dir, { recursive: true, force: true });
  rmSync(cacheDir, { recursive: true, force: true });
});

function killHard(proc: ManagedProcess): Promise<unknown> {
  process.kill(-proc.pid, 'SIGKILL');
  return proc.exited;
}

describe('cache during an S3 outage', () => {
  it('retries, fails clearly, and succeeds on the retry after MinIO is back', {
    timeout: 300_000,
  }, async () => {
    requireCommand('flock', ['util-linux']);
    const first = await startMinio();
    current = first;
    // 64 MiB: far more than loopback socket buffers hold, so killing MinIO cuts the transfer.
    const block = randomBytes(MiB);
    const data = Buffer.concat(
      Array.from({ length: 64 }, (_, i) => Buffer.concat([Buffer.from([i]), block.subarray(1)])),
    );
    const config = s3Config(first.info, first.info.bucket);
    await new S3Store(config).put('iso/outage.iso', Readable.from([data]), { expectedSha256: sha256(data) });

    const source = () => new StoreSource(new S3Store({ ...config, retry: { attempts: 1 } }));
    const retries: number[] = [];
    const cache = new AssetCache({
      directory: cacheDir,
      limitBytes: 1024 * MiB,
      minFreePercent: 0,
      workers: 1,
      source: source(),
      retry: { attempts: 4, baseDelayMs: 100, maxDelayMs: 400 },
      log: { warn: (o: { attempt: number }) => retries.push(o.attempt), info: () => {} } as never,
    });
    let killed = false;
    const failure = await cache
      .acquire({
        type: 'iso',
        name: 'outage.iso',
        dest: join(cacheDir, 'pool', 'job1', 'outage.iso'),
        // The first bytes arrived: MinIO dies now, with the download under way.
        onProgress: async () => {
          if (!killed) {
            killed = true;
            await killHard(first.proc);
          }
        },
      })
      .then(
        () => undefined,
        (error: Error) => error,
      );
    expect(killed).toBe(true);
    expect(failure?.message).toMatch(
      /^cache failure: downloading iso\/outage.iso from s3 http:\/\/127.0.0.1:\d+\/kubeqa-test\/assets\/ failed after 4 attempt\(s\) at byte \d+ of 67108864: /,
    );
    expect(failure).toMatchObject({ code: 'KQ_ERR_CACHE', retryable: true });
    expect(retries).toEqual([1, 2, 3]);
    expect(cache.metrics).toMatchObject({ retries: 3, failures: 1, misses: 0 });
    // Nothing half-downloaded is left, and the job got nothing.
    expect(readdirSync(join(cacheDir, 'tmp'))).toEqual([]);
    expect(readdirSync(join(cacheDir, 'assets', 'iso'))).toEqual([]);

    // MinIO comes back on the same port with the same data: the job's retry gets the asset.
    const second = await startMinio(undefined, {
      dir: first.dir,
      port: first.info.port,
      secretKey: first.info.secretKey,
    });
    current = second;
    const result = await cache.acquire({
      type: 'iso',
      name: 'outage.iso',
      dest: join(cacheDir, 'pool', 'job1-retry', 'outage.iso'),
    });
    expect(result).toMatchObject({ hit: false, size: data.length, sha256: sha256(data) });
  });
});
