// Import benchmark: importAsset() (HTTP source → S3 store, multipart, sha256 verified) against a
// raw `minio` client putObject of the same HTTP stream on loopback (no checksum), to see what the
// verified, atomic import costs.
//   npx tsx bench/assets/import.ts          (BENCH_MB=512 BENCH_RUNS=3 to change)
// Starts its own MinIO (the test harness's startMinio) and stops it at the end.
import { createHash, randomBytes } from 'node:crypto';
import { rmSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Readable } from 'node:stream';
import * as Minio from 'minio';
import { importAsset } from '../../runtime/storage/import.js';
import { S3Store } from '../../runtime/storage/s3-store.js';
import { startMinio } from '../../test/env/services/minio.js';

const MiB = 1024 * 1024;
const SIZE = Number(process.env.BENCH_MB ?? 512) * MiB;
const RUNS = Number(process.env.BENCH_RUNS ?? 3);

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)] as number;
}
const mbps = (bytes: number, ms: number) => bytes / MiB / (ms / 1000);

async function main() {
  const block = randomBytes(MiB);
  const blocks = SIZE / MiB;
  const hash = createHash('sha256');
  for (let i = 0; i < blocks; i++) hash.update(block);
  const sha256 = hash.digest('hex');
  const server = createServer((_req, res) => {
    res.writeHead(200, { 'Content-Length': SIZE });
    Readable.from(
      (function* () {
        for (let i = 0; i < blocks; i++) yield block;
      })(),
    ).pipe(res);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/image.qcow2`;
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
    const raw = new Minio.Client({
      endPoint: info.endPoint,
      port: info.port,
      useSSL: false,
      accessKey: info.accessKey,
      secretKey: info.secretKey,
    });
    const imports: number[] = [];
    const raws: number[] = [];
    for (let run = 0; run < RUNS; run++) {
      let start = performance.now();
      const response = await fetch(url);
      await raw.putObject(
        info.bucket,
        `raw/image-${run}.qcow2`,
        Readable.fromWeb(response.body as import('node:stream/web').ReadableStream<Uint8Array>),
        SIZE,
        {},
      );
      raws.push(performance.now() - start);
      start = performance.now();
      const result = await importAsset(store, { source: url, key: `hdd/image-${run}.qcow2`, sha256 });
      imports.push(performance.now() - start);
      if (result.sha256 !== sha256) throw new Error('checksum differs');
    }
    const imp = median(imports);
    const rawMs = median(raws);
    process.stdout.write(
      `${SIZE / MiB} MiB, ${RUNS} runs (median)\n` +
        `raw minio putObject from HTTP: ${rawMs.toFixed(0)} ms = ${mbps(SIZE, rawMs).toFixed(0)} MiB/s\n` +
        `importAsset (sha256, multipart): ${imp.toFixed(0)} ms = ${mbps(SIZE, imp).toFixed(0)} MiB/s (${((100 * rawMs) / imp).toFixed(0)} % of raw)\n`,
    );
  } finally {
    server.close();
    await proc.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

await main();
