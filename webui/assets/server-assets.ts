// The server's asset settings from the environment: the store (S3 when KUBEQA_S3_* or S3_* is
// set, a directory when KUBEQA_ASSET_DIR is) and the download domains of `*_URL` settings
// (KUBEQA_DOWNLOAD_DOMAINS, comma-separated, as openQA's download_domains). No store configured:
// no imports and no file route.
import type { Logger } from '../../runtime/logger.js';
import { storeFromEnv } from '../../runtime/storage/config.js';
import type { AppOptions } from '../app.js';

export function downloadDomainsFromEnv(env: NodeJS.ProcessEnv = process.env): string[] {
  return (env.KUBEQA_DOWNLOAD_DOMAINS ?? '')
    .split(/[\s,]+/)
    .map((d) => d.trim())
    .filter((d) => d.length > 0);
}

export function assetOptionsFromEnv(
  env: NodeJS.ProcessEnv = process.env,
  log?: Logger,
): AppOptions['assets'] | undefined {
  if (!(env.KUBEQA_S3_ENDPOINT ?? env.S3_ENDPOINT ?? env.KUBEQA_ASSET_DIR)) return undefined;
  return { store: storeFromEnv(env, log), downloadDomains: downloadDomainsFromEnv(env) };
}
