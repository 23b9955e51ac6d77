// The operator's configuration, from environment variables (the Helm chart sets them). Invalid
// values are refused at start with the variable's name and what it accepts.
import { KubeqaError } from '../domain/errors.js';
import type { PodOperatorConfig } from './pods/build-pod.js';

export interface OperatorConfig {
  /** Namespace whose kubeqa objects are reconciled; empty: all namespaces. */
  watchNamespace: string;
  leaderElection: { enabled: boolean; namespace: string; name: string; identity: string };
  /** PostgreSQL URL (KUBEQA_DATABASE_URL, from a Secret). */
  databaseUrl: string;
  /** Port of /healthz, /readyz and /metrics. */
  healthPort: number;
  pods: PodOperatorConfig;
  jobs: {
    /** Base URL of the web UI, for the Job CR's status.url. */
    webUrl: string;
    /** Namespace of the Job CRs mirroring jobs posted through the API; empty: no mirrors. */
    mirrorNamespace: string;
    /** How long a new Job CR waits before ingest so its dependency group arrives whole. */
    settleMs: number;
    /** How long the first status of a just-ingested Job waits, so an assignment meanwhile makes it one write. */
    statusCoalesceMs: number;
    /** Grace period of a test pod deleted because its job was cancelled or ended. */
    podGraceSeconds: number;
  };
}

/** Environment variables the operator reads, with their meaning (docs/configuration.md lists them too). */
export const OPERATOR_ENV = {
  KUBEQA_WATCH_NAMESPACE: 'namespace to reconcile (empty: all)',
  KUBEQA_LEADER_ELECTION: 'true (default) or false',
  KUBEQA_LEADER_ELECTION_NAMESPACE: 'namespace of the Lease (default: POD_NAMESPACE)',
  KUBEQA_LEADER_ELECTION_ID: 'name of the Lease (default kubeqa-operator)',
  POD_NAME: 'this pod (downward API): the leader-election identity',
  POD_NAMESPACE: 'this pod’s namespace (downward API)',
  KUBEQA_DATABASE_URL: 'postgres://user:password@host:5432/db (required)',
  KUBEQA_HEALTH_PORT: 'port of /healthz, /readyz, /metrics (default 8080)',
  KUBEQA_API_URL: 'kubeqa API as test pods reach it (required)',
  KUBEQA_RUNNER_IMAGE: 'test runner image (required)',
  KUBEQA_CACHE_IMAGE: 'asset-cache sidecar image (default: the runner image)',
  KUBEQA_CACHE_HOST_PATH: 'node directory of the asset cache (default /var/lib/kubeqa/cache)',
  KUBEQA_KVM_DEVICE: 'hostPath (default) or resource:<device-plugin resource name>',
  KUBEQA_KVM_GROUP_ID: 'gid owning /dev/kvm on the nodes (default 36)',
  KUBEQA_RUN_AS_USER: 'uid and gid of the test containers (default 1000)',
  KUBEQA_STORAGE_SECRET: 'Secret with S3 settings for the cache sidecar (optional)',
  KUBEQA_IMAGE_PULL_POLICY: 'Always, IfNotPresent (default) or Never',
  KUBEQA_PRIORITY_CLASS: 'priorityClassName of test pods (optional)',
  KUBEQA_WEB_URL: 'web UI base URL for Job status.url (default: KUBEQA_API_URL)',
  KUBEQA_MIRROR_API_JOBS: 'true (default): jobs posted through the API get a Job CR; false: none',
  KUBEQA_JOBS_NAMESPACE:
    'namespace of the Job CRs of API jobs (default: the watched namespace, else POD_NAMESPACE)',
  KUBEQA_INGEST_SETTLE_MS:
    'wait before ingesting a new Job CR so its dependency group arrives whole (default 100)',
  KUBEQA_STATUS_COALESCE_MS:
    "wait before a just-ingested Job's first status write, so an assignment meanwhile makes it one write (default 250; 0: write at once)",
  KUBEQA_POD_GRACE_SECONDS: 'grace period of a test pod stopped by a cancel (default 30)',
} as const;

function invalid(name: string, value: string, accepts: string): KubeqaError {
  return new KubeqaError(
    'KQ_ERR_INVALID_SETTING',
    `${name}='${value}' is not valid`,
    `${name} accepts ${accepts}`,
  );
}

function required(env: NodeJS.ProcessEnv, name: keyof typeof OPERATOR_ENV): string {
  const value = env[name];
  if (!value) {
    throw new KubeqaError(
      'KQ_ERR_INVALID_SETTING',
      `${name} is not set`,
      `set ${name}: ${OPERATOR_ENV[name]}`,
    );
  }
  return value;
}

function integer(env: NodeJS.ProcessEnv, name: string, fallback: number, min: number, max: number): number {
  const raw = env[name];
  if (raw === undefined || raw === '') return fallback;
  const value = Number(raw);
  if (!Number.isInteger(value) || value < min || value > max)
    throw invalid(name, raw, `an integer from ${min} to ${max}`);
  return value;
}

function boolean(env: NodeJS.ProcessEnv, name: string, fallback: boolean): boolean {
  const raw = env[name];
  if (raw === undefined || raw === '') return fallback;
  if (['true', '1', 'yes'].includes(raw)) return true;
  if (['false', '0', 'no'].includes(raw)) return false;
  throw invalid(name, raw, 'true or false');
}

export function operatorConfigFromEnv(env: NodeJS.ProcessEnv = process.env): OperatorConfig {
  const podNamespace = env.POD_NAMESPACE ?? 'default';
  const kvmRaw = env.KUBEQA_KVM_DEVICE ?? 'hostPath';
  let kvmDevice: PodOperatorConfig['kvmDevice'];
  if (kvmRaw === 'hostPath') kvmDevice = { kind: 'hostPath' };
  else if (/^resource:[a-z0-9.-]+\/[A-Za-z0-9._-]+$/.test(kvmRaw))
    kvmDevice = { kind: 'resource', name: kvmRaw.slice(9) };
  else
    throw invalid(
      'KUBEQA_KVM_DEVICE',
      kvmRaw,
      'hostPath or resource:<domain>/<name> (e.g. resource:devices.kubevirt.io/kvm)',
    );
  const pullPolicy = env.KUBEQA_IMAGE_PULL_POLICY ?? 'IfNotPresent';
  if (!['Always', 'IfNotPresent', 'Never'].includes(pullPolicy)) {
    throw invalid('KUBEQA_IMAGE_PULL_POLICY', pullPolicy, 'Always, IfNotPresent or Never');
  }
  const databaseUrl = required(env, 'KUBEQA_DATABASE_URL');
  if (!/^postgres(ql)?:\/\//.test(databaseUrl)) {
    throw new KubeqaError(
      'KQ_ERR_INVALID_SETTING',
      'KUBEQA_DATABASE_URL is not a PostgreSQL URL',
      'use postgres://user:password@host:5432/database',
    );
  }
  const watchNamespace = env.KUBEQA_WATCH_NAMESPACE ?? '';
  const apiUrl = required(env, 'KUBEQA_API_URL');
  return {
    watchNamespace,
    leaderElection: {
      enabled: boolean(env, 'KUBEQA_LEADER_ELECTION', true),
      namespace: env.KUBEQA_LEADER_ELECTION_NAMESPACE ?? podNamespace,
      name: env.KUBEQA_LEADER_ELECTION_ID ?? 'kubeqa-operator',
      identity: env.POD_NAME ?? `kubeqa-operator-${process.pid}`,
    },
    databaseUrl,
    healthPort: integer(env, 'KUBEQA_HEALTH_PORT', 8080, 0, 65535),
    pods: {
      runnerImage: required(env, 'KUBEQA_RUNNER_IMAGE'),
      cacheImage: env.KUBEQA_CACHE_IMAGE || undefined,
      apiUrl,
      cacheHostPath: env.KUBEQA_CACHE_HOST_PATH ?? '/var/lib/kubeqa/cache',
      kvmDevice,
      kvmGroupId: integer(env, 'KUBEQA_KVM_GROUP_ID', 36, 0, 2 ** 31 - 1),
      runAsUser: integer(env, 'KUBEQA_RUN_AS_USER', 1000, 1, 2 ** 31 - 1),
      storageSecretName: env.KUBEQA_STORAGE_SECRET || undefined,
      imagePullPolicy: pullPolicy as PodOperatorConfig['imagePullPolicy'],
      priorityClassName: env.KUBEQA_PRIORITY_CLASS || undefined,
    },
    jobs: {
      webUrl: env.KUBEQA_WEB_URL || apiUrl,
      mirrorNamespace: boolean(env, 'KUBEQA_MIRROR_API_JOBS', true)
        ? env.KUBEQA_JOBS_NAMESPACE || watchNamespace || podNamespace
        : '',
      settleMs: integer(env, 'KUBEQA_INGEST_SETTLE_MS', 100, 0, 60_000),
      statusCoalesceMs: integer(env, 'KUBEQA_STATUS_COALESCE_MS', 250, 0, 10_000),
      podGraceSeconds: integer(env, 'KUBEQA_POD_GRACE_SECONDS', 30, 0, 3600),
    },
  };
}
