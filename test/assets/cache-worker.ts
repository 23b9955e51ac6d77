// A stand-in for one test pod's cache sidecar, run as its own process by the cache tests: it builds
// the cache from the environment (CACHEDIRECTORY, KUBEQA_S3_*), says "ready", waits for "go" on
// stdin (so several processes ask at the same moment), acquires one asset and prints the outcome.
//   node --import tsx test/assets/cache-worker.ts <type>/<name> <dest>
import { createInterface } from 'node:readline';
import type { AssetType } from '../../domain/assets/types.js';
import { AssetCache } from '../../worker-image/cache/cache.js';
import { cacheOptionsFromEnv } from '../../worker-image/cache/config.js';

const [what, dest] = process.argv.slice(2);
const [type, name] = (what ?? '').split('/') as [AssetType, string];
const cache = new AssetCache(cacheOptionsFromEnv(process.env));
await cache.init();
process.stdout.write('ready\n');
const lines = createInterface({ input: process.stdin });
for await (const line of lines) {
  if (line !== 'go') continue;
  try {
    const result = await cache.acquire({ type, name, dest: dest! });
    process.stdout.write(`${JSON.stringify({ ok: true, result, metrics: cache.metrics })}\n`);
  } catch (error) {
    process.stdout.write(`${JSON.stringify({ ok: false, error: (error as Error).message })}\n`);
  }
  break;
}
lines.close();
