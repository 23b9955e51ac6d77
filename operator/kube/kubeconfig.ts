// Credentials for the Kubernetes API: a kubeconfig file (its current context) or the in-cluster
// service account. Read here directly, because loading @kubernetes/client-node for this costs the
// operator ~100 MiB of memory; only kubeconfigs whose user runs an exec plugin or an
// auth-provider (cloud CLIs) fall back to client-node's loader.
import { readFileSync } from 'node:fs';
import type { RequestOptions } from 'node:https';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { parse } from 'yaml';
import { KubeqaError } from '../../domain/errors.js';

export interface KubeCredentials {
  server: string;
  options: RequestOptions;
  /** A bearer token file to re-read now and then (projected service-account tokens rotate). */
  tokenFile?: string;
}

interface KubeconfigFile {
  'current-context'?: string;
  contexts?: Array<{ name: string; context: { cluster: string; user: string } }>;
  clusters?: Array<{
    name: string;
    cluster: {
      server: string;
      'certificate-authority'?: string;
      'certificate-authority-data'?: string;
      'insecure-skip-tls-verify'?: boolean;
      'tls-server-name'?: string;
    };
  }>;
  users?: Array<{
    name: string;
    user: {
      token?: string;
      tokenFile?: string;
      'client-certificate'?: string;
      'client-certificate-data'?: string;
      'client-key'?: string;
      'client-key-data'?: string;
      username?: string;
      password?: string;
      exec?: unknown;
      'auth-provider'?: unknown;
    };
  }>;
}

const SERVICE_ACCOUNT = '/var/run/secrets/kubernetes.io/serviceaccount';

function invalid(message: string): KubeqaError {
  return new KubeqaError(
    'KQ_ERR_INVALID_SETTING',
    message,
    'pass --kubeconfig FILE or set KUBECONFIG to a kubeconfig with a current context',
  );
}

function fileOrData(path: string | undefined, data: string | undefined): Buffer | undefined {
  if (data) return Buffer.from(data, 'base64');
  if (path) return readFileSync(path);
  return undefined;
}

/** The in-cluster service account (a pod's projected token, re-read on each use by the caller). */
function inCluster(env: NodeJS.ProcessEnv): KubeCredentials | undefined {
  const host = env.KUBERNETES_SERVICE_HOST;
  const port = env.KUBERNETES_SERVICE_PORT;
  if (!host || !port) return undefined;
  return {
    server: `https://${host.includes(':') ? `[${host}]` : host}:${port}`,
    options: { ca: readFileSync(join(SERVICE_ACCOUNT, 'ca.crt')) },
    tokenFile: join(SERVICE_ACCOUNT, 'token'),
  };
}

/**
 * Credentials from `path`, else $KUBECONFIG (its first file), else the in-cluster service
 * account, else ~/.kube/config. Undefined when the kubeconfig needs client-node (exec, auth-provider).
 */
export function loadCredentials(
  path: string | undefined,
  env: NodeJS.ProcessEnv = process.env,
): KubeCredentials | undefined {
  const file = path ?? env.KUBECONFIG?.split(':')[0];
  if (!file) {
    const cluster = inCluster(env);
    if (cluster) return cluster;
  }
  const location = file ?? join(homedir(), '.kube', 'config');
  let config: KubeconfigFile;
  try {
    config = parse(readFileSync(location, 'utf8')) as KubeconfigFile;
  } catch (error) {
    throw invalid(`cannot read the kubeconfig ${location}: ${(error as Error).message}`);
  }
  const contextName = config['current-context'];
  const context = config.contexts?.find((c) => c.name === contextName)?.context;
  if (!context) throw invalid(`the kubeconfig ${location} names no current context`);
  const cluster = config.clusters?.find((c) => c.name === context.cluster)?.cluster;
  if (!cluster?.server) throw invalid(`the kubeconfig ${location} has no cluster ${context.cluster}`);
  const user = config.users?.find((u) => u.name === context.user)?.user ?? {};
  if (user.exec || user['auth-provider']) return undefined;
  const headers: Record<string, string> = {};
  if (user.token) headers.authorization = `Bearer ${user.token}`;
  else if (user.username && user.password)
    headers.authorization = `Basic ${Buffer.from(`${user.username}:${user.password}`).toString('base64')}`;
  const options: RequestOptions = {
    ca: fileOrData(cluster['certificate-authority'], cluster['certificate-authority-data']),
    cert: fileOrData(user['client-certificate'], user['client-certificate-data']),
    key: fileOrData(user['client-key'], user['client-key-data']),
    rejectUnauthorized: !cluster['insecure-skip-tls-verify'],
    ...(cluster['tls-server-name'] ? { servername: cluster['tls-server-name'] } : {}),
    headers,
  };
  return {
    server: cluster.server.replace(/\/$/, ''),
    options,
    ...(!user.token && user.tokenFile ? { tokenFile: user.tokenFile } : {}),
  };
}
