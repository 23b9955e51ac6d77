// Which asset store to use, from the environment: S3 when KUBEQA_S3_ENDPOINT is set, otherwise a
// local directory (the embedded mode). Credentials come from the environment (a Kubernetes
// Secret), never from the command line, and are never logged.
import { join } from 'node:path';
import { KubeqaError } from '../../domain/errors.js';
import type { Logger } from '../logger.js';
import { dataHome } from '../paths.js';
import { LocalStore } from './local-store.js';
import { S3Store, type S3StoreConfig } from './s3-store.js';
import type { AssetStore } from './store.js';

/**
 * S3 settings from KUBEQA_S3_* variables (or the same names without KUBEQA_, as a storage Secret
 * mounted with envFrom provides them), or undefined when no endpoint is configured.
 */
export function s3ConfigFromEnv(
  input: NodeJS.ProcessEnv = process.env,
): Omit<S3StoreConfig, 'log'> | undefined {
  const env: NodeJS.ProcessEnv = { ...input };
  for (const name of [
    'ENDPOINT',
    'ACCESS_KEY',
    'SECRET_KEY',
    'BUCKET',
    'PREFIX',
    'REGION',
    'CA_FILE',
    'PART_SIZE_MB',
    'USE_SSL',
  ]) {
    if (env[`KUBEQA_S3_${name}`] === undefined && input[`S3_${name}`] !== undefined) {
      env[`KUBEQA_S3_${name}`] = input[`S3_${name}`];
    }
  }
  const endpoint = env.KUBEQA_S3_ENDPOINT;
  if (!endpoint) return undefined;
  const ssl = env.KUBEQA_S3_USE_SSL?.toLowerCase();
  if (ssl !== undefined && !['true', 'false', '1', '0', ''].includes(ssl)) {
    throw new KubeqaError('KQ_ERR_INVALID_SETTING', `KUBEQA_S3_USE_SSL must be true or false, got '${ssl}'`);
  }
  // A bare host[:port] (as the Helm chart's Secret holds it) takes its scheme from USE_SSL (default true).
  const withScheme = /^[a-z][a-z0-9+.-]*:\/\//i.test(endpoint)
    ? endpoint
    : `${ssl === 'false' || ssl === '0' ? 'http' : 'https'}://${endpoint}`;
  let url: URL;
  try {
    url = new URL(withScheme);
  } catch {
    throw new KubeqaError(
      'KQ_ERR_INVALID_SETTING',
      `KUBEQA_S3_ENDPOINT '${endpoint}' is not a URL`,
      'write it as host[:port] (with KUBEQA_S3_USE_SSL) or http(s)://host[:port]',
    );
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new KubeqaError(
      'KQ_ERR_INVALID_SETTING',
      `KUBEQA_S3_ENDPOINT must be http:// or https://, got '${url.protocol}'`,
    );
  }
  const accessKey = env.KUBEQA_S3_ACCESS_KEY;
  const secretKey = env.KUBEQA_S3_SECRET_KEY;
  const bucket = env.KUBEQA_S3_BUCKET;
  const missing = [
    !accessKey && 'KUBEQA_S3_ACCESS_KEY',
    !secretKey && 'KUBEQA_S3_SECRET_KEY',
    !bucket && 'KUBEQA_S3_BUCKET',
  ].filter(Boolean);
  if (missing.length > 0 || !accessKey || !secretKey || !bucket) {
    throw new KubeqaError(
      'KQ_ERR_INVALID_SETTING',
      `KUBEQA_S3_ENDPOINT is set but ${missing.join(', ')} ${missing.length === 1 ? 'is' : 'are'} not`,
      'set all of them (from a Secret), or unset KUBEQA_S3_ENDPOINT to use a local directory or remote mode',
    );
  }
  const partMiB = env.KUBEQA_S3_PART_SIZE_MB ? Number(env.KUBEQA_S3_PART_SIZE_MB) : undefined;
  if (partMiB !== undefined && !(Number.isInteger(partMiB) && partMiB >= 5 && partMiB <= 5120)) {
    throw new KubeqaError(
      'KQ_ERR_INVALID_SETTING',
      `KUBEQA_S3_PART_SIZE_MB must be an integer from 5 to 5120, got '${env.KUBEQA_S3_PART_SIZE_MB}'`,
    );
  }
  return {
    endPoint: url.hostname,
    ...(url.port ? { port: Number(url.port) } : {}),
    useSSL: url.protocol === 'https:',
    accessKey,
    secretKey,
    bucket,
    prefix: env.KUBEQA_S3_PREFIX ?? 'assets/',
    ...(env.KUBEQA_S3_REGION ? { region: env.KUBEQA_S3_REGION } : {}),
    ...(env.KUBEQA_S3_CA_FILE ? { caFile: env.KUBEQA_S3_CA_FILE } : {}),
    ...(partMiB ? { partSize: partMiB * 1024 * 1024 } : {}),
  };
}

/** The store this process should use: S3 when configured, else `<data dir>/assets`. */
export function storeFromEnv(env: NodeJS.ProcessEnv = process.env, log?: Logger): AssetStore {
  const s3 = s3ConfigFromEnv(env);
  if (s3) return new S3Store({ ...s3, ...(log ? { log } : {}) });
  return new LocalStore(env.KUBEQA_ASSET_DIR ?? join(dataHome(env), 'assets'));
}
