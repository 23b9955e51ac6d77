// Configuration of `kubeqa server` (the deployed web UI/API) from environment variables, as the
// Helm chart sets them. Bad values stop it at start with the variable's name.
import { KubeqaError } from '../domain/errors.js';
import type { S3BlobOptions } from './blob-store.js';

export interface ServerConfig {
  databaseUrl: string;
  /** Result files in S3 when S3_ENDPOINT is set, else in this directory. */
  s3?: S3BlobOptions;
  blobDir: string;
  admin?: { user: string; password: string };
  /** Namespace where Job CRs of API-posted jobs are created (when running in a cluster). */
  jobsNamespace?: string;
  oidcIssuer?: string;
}

export const SERVER_ENV = {
  KUBEQA_DATABASE_URL: 'postgres://user:password@host:5432/db (required)',
  S3_ENDPOINT: 'S3 host (or host:port) for result files; unset: KUBEQA_BLOB_DIR',
  S3_BUCKET: 'bucket (required with S3_ENDPOINT)',
  S3_ACCESS_KEY: 'access key (required with S3_ENDPOINT)',
  S3_SECRET_KEY: 'secret key (required with S3_ENDPOINT)',
  S3_REGION: 'region (optional)',
  S3_USE_SSL: 'true (default) or false',
  KUBEQA_BLOB_DIR: 'directory for result files without S3 (default /var/lib/kubeqa/blobs)',
  KUBEQA_ADMIN_USER: 'initial admin account (with KUBEQA_ADMIN_PASSWORD)',
  KUBEQA_ADMIN_PASSWORD: 'its password',
  KUBEQA_JOBS_NAMESPACE: 'namespace of Job CRs created for API-posted jobs',
  KUBEQA_OIDC_ISSUER: 'OIDC issuer URL (login through OIDC is not implemented yet)',
} as const;

function missing(name: keyof typeof SERVER_ENV): KubeqaError {
  return new KubeqaError('KQ_ERR_INVALID_SETTING', `${name} is not set`, `set ${name}: ${SERVER_ENV[name]}`);
}

export function serverConfigFromEnv(env: NodeJS.ProcessEnv = process.env): ServerConfig {
  const databaseUrl = env.KUBEQA_DATABASE_URL;
  if (!databaseUrl) throw missing('KUBEQA_DATABASE_URL');
  if (!/^postgres(ql)?:\/\//.test(databaseUrl)) {
    throw new KubeqaError(
      'KQ_ERR_INVALID_SETTING',
      'KUBEQA_DATABASE_URL is not a PostgreSQL URL',
      'use postgres://user:password@host:5432/database',
    );
  }
  let s3: S3BlobOptions | undefined;
  if (env.S3_ENDPOINT) {
    const [host, portText] = env.S3_ENDPOINT.replace(/^https?:\/\//, '').split(':');
    const port = portText ? Number(portText) : undefined;
    if (!host || (port !== undefined && (!Number.isInteger(port) || port <= 0 || port > 65535))) {
      throw new KubeqaError(
        'KQ_ERR_INVALID_SETTING',
        `S3_ENDPOINT='${env.S3_ENDPOINT}' is not valid`,
        'use host or host:port',
      );
    }
    for (const name of ['S3_BUCKET', 'S3_ACCESS_KEY', 'S3_SECRET_KEY'] as const)
      if (!env[name]) throw missing(name);
    const ssl = env.S3_USE_SSL ?? 'true';
    if (!['true', 'false'].includes(ssl)) {
      throw new KubeqaError(
        'KQ_ERR_INVALID_SETTING',
        `S3_USE_SSL='${ssl}' is not valid`,
        'S3_USE_SSL accepts true or false',
      );
    }
    s3 = {
      endPoint: host,
      port,
      useSSL: ssl === 'true',
      bucket: env.S3_BUCKET!,
      accessKey: env.S3_ACCESS_KEY!,
      secretKey: env.S3_SECRET_KEY!,
      region: env.S3_REGION || undefined,
    };
  }
  if (env.KUBEQA_ADMIN_USER && !env.KUBEQA_ADMIN_PASSWORD) throw missing('KUBEQA_ADMIN_PASSWORD');
  return {
    databaseUrl,
    s3,
    blobDir: env.KUBEQA_BLOB_DIR ?? '/var/lib/kubeqa/blobs',
    admin: env.KUBEQA_ADMIN_USER
      ? { user: env.KUBEQA_ADMIN_USER, password: env.KUBEQA_ADMIN_PASSWORD! }
      : undefined,
    jobsNamespace: env.KUBEQA_JOBS_NAMESPACE || undefined,
    oidcIssuer: env.KUBEQA_OIDC_ISSUER || undefined,
  };
}
