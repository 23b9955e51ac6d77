// Configuration of `kubeqa server` (the deployed web UI/API) from environment variables, as the
// Helm chart sets them. Bad values stop it at start with the variable's name.
import { createHash, randomBytes } from 'node:crypto';
import { KubeqaError } from '../domain/errors.js';
import type { OidcConfig } from './auth/oidc.js';
import { isRole, ROLES } from './auth/principal.js';
import type { S3BlobOptions } from './blob-store.js';

export interface ServerConfig {
  databaseUrl: string;
  /** Result files in S3 when S3_ENDPOINT is set, else in this directory. */
  s3?: S3BlobOptions;
  blobDir: string;
  admin?: { user: string; password: string };
  /** Namespace where Job CRs of API-posted jobs are created (when running in a cluster). */
  jobsNamespace?: string;
  /** Browser login through an OIDC provider, when KUBEQA_OIDC_ISSUER is set. */
  oidc?: OidcConfig;
  /** Set when the pending-login cookie is sealed with a key only this process knows. */
  oidcStateKeyIsRandom?: boolean;
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
  KUBEQA_OIDC_ISSUER: 'OIDC issuer URL, exactly as the provider announces it; turns on OIDC login',
  KUBEQA_OIDC_CLIENT_ID: 'client id registered at the provider (required with KUBEQA_OIDC_ISSUER)',
  KUBEQA_OIDC_CLIENT_SECRET: 'client secret (unset: a public client, PKCE only)',
  KUBEQA_OIDC_REDIRECT_URI:
    'callback URL registered at the provider (default: <scheme>://<host of the request>/api/v1/session/oidc/callback)',
  KUBEQA_OIDC_SCOPES:
    'space-separated scopes (default "openid profile email"; add "groups" for Dex and others)',
  KUBEQA_OIDC_USERNAME_CLAIM:
    'claim that becomes the user name (default preferred_username, then email, then sub)',
  KUBEQA_OIDC_ROLE_CLAIM: 'claim whose values decide the role (default groups)',
  KUBEQA_OIDC_ADMIN_VALUES: 'comma-separated values of the role claim that make a user admin',
  KUBEQA_OIDC_OPERATOR_VALUES: 'comma-separated values of the role claim that make a user operator',
  KUBEQA_OIDC_DEFAULT_ROLE: 'role of a new user the role claim does not name (default viewer)',
  KUBEQA_OIDC_STATE_SECRET:
    'key sealing the login-in-progress cookie (default: derived from the client secret; without either, random per process: one replica only)',
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
    ...oidcFromEnv(env),
  };
}

function invalid(name: keyof typeof SERVER_ENV, value: string, why: string): KubeqaError {
  return new KubeqaError(
    'KQ_ERR_INVALID_SETTING',
    `${name}='${value}' is not valid: ${why}`,
    SERVER_ENV[name],
  );
}

function httpUrl(name: keyof typeof SERVER_ENV, value: string): string {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw invalid(name, value, 'not a URL');
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') throw invalid(name, value, 'use an http(s) URL');
  return value;
}

const list = (value: string | undefined) =>
  (value ?? '')
    .split(',')
    .map((v) => v.trim())
    .filter(Boolean);

/** The OIDC settings (all or nothing: KUBEQA_OIDC_ISSUER turns them on). */
export function oidcFromEnv(env: NodeJS.ProcessEnv): Pick<ServerConfig, 'oidc' | 'oidcStateKeyIsRandom'> {
  if (!env.KUBEQA_OIDC_ISSUER) return {};
  const issuer = httpUrl('KUBEQA_OIDC_ISSUER', env.KUBEQA_OIDC_ISSUER);
  const clientId = env.KUBEQA_OIDC_CLIENT_ID;
  if (!clientId) throw missing('KUBEQA_OIDC_CLIENT_ID');
  const redirectUri = env.KUBEQA_OIDC_REDIRECT_URI
    ? httpUrl('KUBEQA_OIDC_REDIRECT_URI', env.KUBEQA_OIDC_REDIRECT_URI)
    : undefined;
  const scopes = (env.KUBEQA_OIDC_SCOPES ?? 'openid profile email').split(/\s+/).filter(Boolean);
  if (!scopes.includes('openid')) {
    throw invalid('KUBEQA_OIDC_SCOPES', env.KUBEQA_OIDC_SCOPES ?? '', 'it must include openid');
  }
  const defaultRole = env.KUBEQA_OIDC_DEFAULT_ROLE || 'viewer';
  if (!isRole(defaultRole)) {
    throw invalid('KUBEQA_OIDC_DEFAULT_ROLE', defaultRole, `use one of ${ROLES.join(', ')}`);
  }
  const secret = env.KUBEQA_OIDC_STATE_SECRET || env.KUBEQA_OIDC_CLIENT_SECRET;
  const stateKey = secret
    ? createHash('sha256').update(`kubeqa-oidc-state\0${secret}`).digest()
    : randomBytes(32);
  return {
    oidc: {
      issuer,
      clientId,
      ...(env.KUBEQA_OIDC_CLIENT_SECRET ? { clientSecret: env.KUBEQA_OIDC_CLIENT_SECRET } : {}),
      ...(redirectUri ? { redirectUri } : {}),
      scopes,
      usernameClaim: env.KUBEQA_OIDC_USERNAME_CLAIM || 'preferred_username',
      roleClaim: env.KUBEQA_OIDC_ROLE_CLAIM || 'groups',
      adminValues: list(env.KUBEQA_OIDC_ADMIN_VALUES),
      operatorValues: list(env.KUBEQA_OIDC_OPERATOR_VALUES),
      defaultRole,
      stateKey,
    },
    ...(secret ? {} : { oidcStateKeyIsRandom: true }),
  };
}
