// Cache benchmark: the node cache's cold fetch against a raw `minio` client GET of the same object
// on loopback (target: ≥ 80 % of raw), hit latency, and N jobs asking at once → one download.
//   npx tsx bench/cache/bench.ts            (BENCH_MB=512 BENCH_RUNS=3 BENCH_JOBS=8 to change)
// Starts its own MinIO (the test harness's startMinio) and stops it at the end.
import { createHash, randomBytes } from 'node:crypto';
import { createWriteStream, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import * as Minio from 'minio';
import { S3Store } from '../../runtime/storage/s3-store.js';
import { startMinio } from '../../test/env/services/minio.js';
import { AssetCache } from '../../worker-image/cache/cache.js';
import { StoreSource } from '../../worker-image/cache/sources.js';

const MiB = 1024 * 1024;
const SIZE = Number(process.env.BENCH_MB ?? 512) * MiB;
const RUNS = Number(process.env.BENCH_RUNS ?? 3);
const JOBS = Number(process.env.BENCH_JOBS ?? 8);
const HITS = 50;

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)]!;
}
function percentile(values: number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor((sorted.length * p) / 100))]!;
}
const mbps = (bytes: number, ms: number) => bytes / MiB / (ms / 1000);

async function getCount(metricsUrl: string, bucket: string): Promise<number> {
  // MinIO's v3 per-bucket metrics are current (the v2 ones lag ~10 s behind a cache).
  const url = metricsUrl.replace(/\/minio\/v2\/metrics\/node$/, `/minio/metrics/v3/bucket/api/${bucket}`);
  const text = await (await fetch(url)).text();
  const line = text
    .split('\n')
    .find((l) => l.startsWith('minio_bucket_api_total{') && l.includes('name="GetObject"'));
  return line ? Number(line.slice(line.lastIndexOf(' ') + 1)) : 0;
}

async function main() {
  const work = mkdtempSync(join(tmpdir(), 'kubeqa-bench-cache-'));
  const { info, proc, dir } = await startMinio();
  try {
    const config = {
      endPoint: info.endPoint,
      port: info.port,
      useSSL: false as const,
      accessKey: info.accessKey,
      secretKey: info.secretKey,
      bucket: info.bucket,
      prefix: 'assets/',
    };
    const store = new S3Store(config);
    const block = randomBytes(MiB);
    const blocks = SIZE / MiB;
    const payload = Readable.from(
      (function* () {
        for (let i = 0; i < blocks; i++) {
          const b = Buffer.from(block);
          b.writeUInt32LE(i, 0);
          yield b;
        }
      })(),
    );
    const put = await store.put('iso/bench.iso', payload, { size: SIZE });
    const client = new Minio.Client({ ...config, retryOptions: { disableRetry: true } });

    // Raw: the minio client's GET of the same object, written to a file on the same disk.
    const raw: number[] = [];
    const rawMem: number[] = [];
    for (let run = 0; run < RUNS; run++) {
      const target = join(work, `raw-${run}`);
      const t0 = performance.now();
      await pipeline(await client.getObject(info.bucket, 'assets/iso/bench.iso'), createWriteStream(target));
      raw.push(performance.now() - t0);
      rmSync(target);
      const t1 = performance.now();
      const hash = createHash('sha256');
      for await (const chunk of await client.getObject(info.bucket, 'assets/iso/bench.iso'))
        hash.update(chunk as Buffer);
      rawMem.push(performance.now() - t1);
    }

    // Cold: a fresh cache directory each run (download, sha256, rename, hard link).
    const cold: number[] = [];
    for (let run = 0; run < RUNS; run++) {
      const cacheDir = join(work, `cold-${run}`);
      const cache = new AssetCache({
        directory: cacheDir,
        limitBytes: 4 * SIZE,
        minFreePercent: 0,
        workers: 1,
        source: new StoreSource(new S3Store({ ...config, retry: { attempts: 1 } })),
      });
      const t0 = performance.now();
      const result = await cache.acquire({
        type: 'iso',
        name: 'bench.iso',
        dest: join(cacheDir, 'pool', 'job', 'bench.iso'),
      });
      cold.push(performance.now() - t0);
      if (result.sha256 !== put.sha256) throw new Error('cold fetch returned other bytes');
      if (run < RUNS - 1) rmSync(cacheDir, { recursive: true, force: true });
    }

    // Hits: the asset is cached; each request links it into a new job directory.
    const hotDir = join(work, `cold-${RUNS - 1}`);
    const hitTimes: Record<string, number[]> = { revalidate: [], 'no revalidate': [] };
    for (const [label, revalidate] of [
      ['revalidate', true],
      ['no revalidate', false],
    ] as const) {
      const cache = new AssetCache({
        directory: hotDir,
        limitBytes: 4 * SIZE,
        minFreePercent: 0,
        workers: 1,
        revalidate,
        source: new StoreSource(new S3Store({ ...config, retry: { attempts: 1 } })),
      });
      for (let i = 0; i < HITS; i++) {
        const t0 = performance.now();
        const result = await cache.acquire({
          type: 'iso',
          name: 'bench.iso',
          dest: join(hotDir, 'pool', `${label}-${i}`, 'bench.iso'),
        });
        hitTimes[label]!.push(performance.now() - t0);
        if (!result.hit) throw new Error('expected a hit');
      }
    }

    // N jobs at once on one cold cache directory: separate cache instances contend through the
    // directory's locks exactly as separate pods do.
    const sharedDir = join(work, 'shared');
    const before = await getCount(info.metricsUrl, info.bucket);
    const caches = Array.from(
      { length: JOBS },
      () =>
        new AssetCache({
          directory: sharedDir,
          limitBytes: 4 * SIZE,
          minFreePercent: 0,
          workers: 1,
          source: new StoreSource(new S3Store({ ...config, retry: { attempts: 1 } })),
        }),
    );
    const t0 = performance.now();
    const results = await Promise.all(
      caches.map((cache, i) =>
        cache.acquire({
          type: 'iso',
          name: 'bench.iso',
          dest: join(sharedDir, 'pool', `job${i}`, 'bench.iso'),
        }),
      ),
    );
    const allMs = performance.now() - t0;
    const gets = (await getCount(info.metricsUrl, info.bucket)) - before;
    const downloads = results.filter((r) => !r.hit).length;

    const rawMs = median(raw);
    const coldMs = median(cold);
    const rows = [
      ['object', `${SIZE / MiB} MiB, MinIO on loopback, ${RUNS} runs (median)`],
      ['raw minio GET → file', `${rawMs.toFixed(0)} ms  ${mbps(SIZE, rawMs).toFixed(0)} MiB/s`],
      [
        'raw minio GET → sha256 in memory',
        `${median(rawMem).toFixed(0)} ms  ${mbps(SIZE, median(rawMem)).toFixed(0)} MiB/s`,
      ],
      [
        'cache cold fetch (GET, sha256, link)',
        `${coldMs.toFixed(0)} ms  ${mbps(SIZE, coldMs).toFixed(0)} MiB/s  = ${((100 * rawMs) / coldMs).toFixed(0)} % of raw → file`,
      ],
      [
        'cache hit, ETag revalidated (HEAD)',
        `median ${median(hitTimes.revalidate!).toFixed(2)} ms, p95 ${percentile(hitTimes.revalidate!, 95).toFixed(2)} ms`,
      ],
      [
        'cache hit, no revalidation',
        `median ${median(hitTimes['no revalidate']!).toFixed(2)} ms, p95 ${percentile(hitTimes['no revalidate']!, 95).toFixed(2)} ms`,
      ],
      [
        `${JOBS} jobs at once, one cold cache dir`,
        `${allMs.toFixed(0)} ms total, ${downloads} download(s), ${gets} GET(s) at MinIO (${(allMs / coldMs).toFixed(2)}× one cold fetch)`,
      ],
    ];
    const width = Math.max(...rows.map((r) => r[0]!.length));
    for (const [label, value] of rows) process.stdout.write(`${label!.padEnd(width)}  ${value}\n`);
  } finally {
    await proc.stop();
    rmSync(dir, { recursive: true, force: true });
    rmSync(work, { recursive: true, force: true });
  }
}

await main();
