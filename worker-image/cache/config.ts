// The cache's settings from the environment, with openQA's worker setting names where they exist:
//   CACHEDIRECTORY             the node-local directory (hostPath) shared by all jobs on the node
//   CACHELIMIT                 GiB the cache may hold (default 50)
//   CACHEWORKERS               parallel downloads per cache process (default 5)
//   CACHE_MIN_FREE_PERCENTAGE  share of the filesystem that must stay free (default 5)
// The source: S3 when KUBEQA_S3_ENDPOINT and its credentials are set; otherwise remote mode over
// the web API (KUBEQA_API_URL with KUBEQA_API_KEY + KUBEQA_API_SECRET, or a pod's KUBEQA_JOB_TOKEN;
// optional KUBEQA_API_CA_FILE);
// otherwise a local asset directory (KUBEQA_ASSET_DIR, the embedded mode).
import { join } from 'node:path';
import { KubeqaError } from '../../domain/errors.js';
import type { Logger } from '../../runtime/logger.js';
import { dataHome } from '../../runtime/paths.js';
import { s3ConfigFromEnv } from '../../runtime/storage/config.js';
import { LocalStore } from '../../runtime/storage/local-store.js';
import { S3Store } from '../../runtime/storage/s3-store.js';
import type { CacheOptions } from './cache.js';
import { type AssetSource, RemoteSource, StoreSource } from './sources.js';

const GIB = 1024 ** 3;

function number(
  env: NodeJS.ProcessEnv,
  name: string,
  fallback: number,
  check: (n: number) => boolean,
  rule: string,
): number {
  const raw = env[name];
  if (raw === undefined || raw === '') return fallback;
  const value = Number(raw);
  if (!Number.isFinite(value) || !check(value)) {
    throw new KubeqaError('KQ_ERR_INVALID_SETTING', `${name} must be ${rule}, got '${raw}'`);
  }
  return value;
}

export function sourceFromEnv(env: NodeJS.ProcessEnv = process.env, log?: Logger): AssetSource {
  const s3 = s3ConfigFromEnv(env);
  // The cache retries (and resumes) downloads itself; one attempt per S3 request here.
  if (s3) return new StoreSource(new S3Store({ ...s3, retry: { attempts: 1 }, ...(log ? { log } : {}) }));
  const url = env.KUBEQA_API_URL;
  if (url) {
    const apiKey = env.KUBEQA_API_KEY;
    const apiSecret = env.KUBEQA_API_SECRET;
    const jobToken = env.KUBEQA_JOB_TOKEN;
    const ca = env.KUBEQA_API_CA_FILE ? { caFile: env.KUBEQA_API_CA_FILE } : {};
    if (apiKey && apiSecret) return new RemoteSource({ baseUrl: url, apiKey, apiSecret, ...ca });
    if (jobToken && !apiKey && !apiSecret) return new RemoteSource({ baseUrl: url, jobToken, ...ca });
    throw new KubeqaError(
      'KQ_ERR_INVALID_SETTING',
      "remote mode needs KUBEQA_API_KEY and KUBEQA_API_SECRET (or a test pod's KUBEQA_JOB_TOKEN) besides KUBEQA_API_URL",
      'create an API key for the worker in the web UI and pass both from a Secret',
    );
  }
  if (env.KUBEQA_ASSET_DIR) return new StoreSource(new LocalStore(env.KUBEQA_ASSET_DIR));
  throw new KubeqaError(
    'KQ_ERR_INVALID_SETTING',
    'the cache has no asset source',
    'set KUBEQA_S3_ENDPOINT (+ KUBEQA_S3_ACCESS_KEY, KUBEQA_S3_SECRET_KEY, KUBEQA_S3_BUCKET), or KUBEQA_API_URL (+ KUBEQA_API_KEY, KUBEQA_API_SECRET) for remote mode, or KUBEQA_ASSET_DIR',
  );
}

export function cacheOptionsFromEnv(env: NodeJS.ProcessEnv = process.env, log?: Logger): CacheOptions {
  const directory = env.CACHEDIRECTORY || join(dataHome(env), 'cache');
  const limitGiB = number(env, 'CACHELIMIT', 50, (n) => n > 0, 'a positive number of GiB');
  const workers = number(
    env,
    'CACHEWORKERS',
    5,
    (n) => Number.isInteger(n) && n >= 1 && n <= 64,
    'an integer from 1 to 64',
  );
  const minFreePercent = number(
    env,
    'CACHE_MIN_FREE_PERCENTAGE',
    5,
    (n) => n >= 0 && n < 100,
    'a percentage from 0 to 99',
  );
  return {
    directory,
    limitBytes: Math.floor(limitGiB * GIB),
    workers,
    minFreePercent,
    source: sourceFromEnv(env, log),
    ...(log ? { log } : {}),
  };
}
