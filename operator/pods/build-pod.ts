// What a test pod looks like: a pure function from the job, its worker pool and the operator's
// configuration to a Pod and the Secret holding the job's token. No I/O.
//
// - The runner container and the asset-cache sidecar (a native sidecar: an init container with
//   restartPolicy Always, so it starts first and stops after the runner).
// - KVM without privilege: the /dev/kvm character device as a hostPath volume (the container user
//   gets it through the kvm group), or a device-plugin resource; never `privileged: true`.
// - Non-root, no privilege escalation, all capabilities dropped, read-only root file system,
//   RuntimeDefault seccomp; scratch space in emptyDirs.
// - karpenter.sh/do-not-disrupt so a consolidating autoscaler does not kill a running test.
// - Placement from the pool (node selector, tolerations, affinity), resources from the pool.

export const LABEL_JOB_ID = 'kubeqa.io/job-id';
export const LABEL_WORKER = 'kubeqa.io/worker';
export const LABEL_COMPONENT = 'app.kubernetes.io/component';
export const ANNOTATION_DO_NOT_DISRUPT = 'karpenter.sh/do-not-disrupt';

export type KvmMode = 'required' | 'auto' | 'off';

export interface WorkerPoolSpec {
  workerClasses: string[];
  arch: string;
  maxJobs?: number;
  nodeSelector?: Record<string, string>;
  tolerations?: Record<string, unknown>[];
  affinity?: Record<string, unknown>;
  resources?: { requests?: Record<string, string>; limits?: Record<string, string> };
  runnerImage?: string;
  cacheSize?: string | number;
  kvm?: KvmMode;
}

export interface PodOperatorConfig {
  /** Default runner image (the Worker may override it). */
  runnerImage: string;
  /** Image of the asset-cache sidecar (defaults to the runner image: both live in it). */
  cacheImage?: string;
  /** Base URL of kubeqa's API as pods reach it (in-cluster Service). */
  apiUrl: string;
  /** Node directory shared by all test pods of a node for the asset cache. */
  cacheHostPath: string;
  /** How pods get /dev/kvm: a hostPath character device, or a device-plugin resource name. */
  kvmDevice: { kind: 'hostPath' } | { kind: 'resource'; name: string };
  /** Group id owning /dev/kvm on the nodes (hostPath mode); added as a supplemental group. */
  kvmGroupId: number;
  /** Name of a Secret with S3 settings for the cache sidecar (keys S3_ENDPOINT, S3_BUCKET, …). */
  storageSecretName?: string;
  /** uid/gid the containers run as. */
  runAsUser: number;
  imagePullPolicy?: 'Always' | 'IfNotPresent' | 'Never';
  priorityClassName?: string;
}

export interface PodJob {
  id: number;
  namespace: string;
  settings: Record<string, string>;
  /** The Job CR that owns the pod, when the job came from (or was projected to) one. */
  owner?: { name: string; uid: string };
}

export interface PodPool {
  name: string;
  spec: WorkerPoolSpec;
}

export interface TestPodManifests {
  pod: Record<string, unknown>;
  secret: Record<string, unknown>;
}

/** Where the cache sidecar listens, in the pod's /tmp emptyDir shared with the runner. */
export const CACHE_SOCKET = '/tmp/kubeqa-cache.sock';

export function podName(jobId: number): string {
  return `kubeqa-job-${jobId}`;
}

export function tokenSecretName(jobId: number): string {
  return `kubeqa-job-${jobId}-token`;
}

const DEFAULT_RUNNER_RESOURCES = { requests: { cpu: '2', memory: '2Gi' }, limits: { memory: '4Gi' } };

/** The cache size as GiB for CACHELIMIT (Kubernetes quantities like 50Gi, 100G, or a byte count). */
export function cacheLimitGiB(size: string | number | undefined): number | undefined {
  if (size === undefined) return undefined;
  if (typeof size === 'number') return size / 2 ** 30;
  const match = /^(\d+(?:\.\d+)?)(Ki|Mi|Gi|Ti|Pi|k|M|G|T|P)?$/.exec(size);
  if (!match) return undefined;
  const factor: Record<string, number> = {
    '': 1,
    Ki: 2 ** 10,
    Mi: 2 ** 20,
    Gi: 2 ** 30,
    Ti: 2 ** 40,
    Pi: 2 ** 50,
    k: 1e3,
    M: 1e6,
    G: 1e9,
    T: 1e12,
    P: 1e15,
  };
  return (Number(match[1]) * (factor[match[2] ?? ''] ?? 1)) / 2 ** 30;
}

export function buildTestPod(
  job: PodJob,
  pool: PodPool,
  config: PodOperatorConfig,
  token: string,
): TestPodManifests {
  const name = podName(job.id);
  const secretName = tokenSecretName(job.id);
  const kvm: KvmMode = pool.spec.kvm ?? 'required';
  const labels = {
    'app.kubernetes.io/name': 'kubeqa',
    'app.kubernetes.io/part-of': 'kubeqa',
    [LABEL_COMPONENT]: 'test-runner',
    [LABEL_JOB_ID]: String(job.id),
    [LABEL_WORKER]: pool.name,
  };
  const ownerReferences = job.owner
    ? [
        {
          apiVersion: 'kubeqa.io/v1alpha1',
          kind: 'Job',
          name: job.owner.name,
          uid: job.owner.uid,
          controller: true,
          blockOwnerDeletion: true,
        },
      ]
    : undefined;

  const useKvmHostPath = kvm !== 'off' && config.kvmDevice.kind === 'hostPath';
  const kvmResource =
    kvm === 'required' && config.kvmDevice.kind === 'resource' ? config.kvmDevice.name : undefined;

  const volumes: Record<string, unknown>[] = [
    { name: 'cache', hostPath: { path: config.cacheHostPath, type: 'DirectoryOrCreate' } },
    { name: 'work', emptyDir: {} },
    { name: 'tmp', emptyDir: {} },
  ];
  if (useKvmHostPath) {
    // required: the pod fails to start on a node without /dev/kvm (the pool's node selector should
    // prevent that); auto: no check, the runner's detector falls back to software emulation.
    volumes.push({
      name: 'kvm',
      hostPath: { path: '/dev/kvm', type: kvm === 'required' ? 'CharDevice' : '' },
    });
  }

  const containerSecurity = {
    allowPrivilegeEscalation: false,
    privileged: false,
    readOnlyRootFilesystem: true,
    runAsNonRoot: true,
    capabilities: { drop: ['ALL'] },
  };

  const runnerResources: { requests: Record<string, string>; limits: Record<string, string> } = {
    requests: { ...(pool.spec.resources?.requests ?? DEFAULT_RUNNER_RESOURCES.requests) },
    limits: { ...(pool.spec.resources?.limits ?? DEFAULT_RUNNER_RESOURCES.limits) },
  };
  if (kvmResource) runnerResources.limits[kvmResource] = '1';

  const env: Record<string, unknown>[] = [
    { name: 'KUBEQA_API_URL', value: config.apiUrl },
    { name: 'KUBEQA_JOB_ID', value: String(job.id) },
    { name: 'KUBEQA_JOB_TOKEN', valueFrom: { secretKeyRef: { name: secretName, key: 'token' } } },
    { name: 'KUBEQA_CACHE_DIR', value: '/var/lib/kubeqa/cache' },
    { name: 'KUBEQA_WORK_DIR', value: '/work' },
    { name: 'KUBEQA_CACHE_SOCKET', value: CACHE_SOCKET },
    { name: 'TMPDIR', value: '/tmp' },
  ];
  if (kvm === 'off') env.push({ name: 'QEMU_NO_KVM', value: '1' });

  const cacheLimit = cacheLimitGiB(pool.spec.cacheSize);
  const cacheEnv: Record<string, unknown>[] = [
    { name: 'CACHEDIRECTORY', value: '/var/lib/kubeqa/cache' },
    { name: 'KUBEQA_API_URL', value: config.apiUrl },
    { name: 'KUBEQA_JOB_TOKEN', valueFrom: { secretKeyRef: { name: secretName, key: 'token' } } },
  ];
  if (cacheLimit !== undefined) cacheEnv.push({ name: 'CACHELIMIT', value: String(Math.floor(cacheLimit)) });

  const cacheSidecar = {
    name: 'asset-cache',
    image: config.cacheImage ?? pool.spec.runnerImage ?? config.runnerImage,
    imagePullPolicy: config.imagePullPolicy ?? 'IfNotPresent',
    // A native sidecar: started before the runner, kept running beside it, stopped after it.
    restartPolicy: 'Always',
    // The socket lives in the pod's own /tmp (shared with the runner), not on the node-wide
    // cache directory, where every pod of the node would claim the same path.
    args: ['cache', 'serve', '--socket', CACHE_SOCKET],
    env: cacheEnv,
    envFrom: config.storageSecretName
      ? [{ secretRef: { name: config.storageSecretName, optional: true } }]
      : undefined,
    resources: { requests: { cpu: '100m', memory: '128Mi' }, limits: { memory: '512Mi' } },
    securityContext: containerSecurity,
    volumeMounts: [
      { name: 'cache', mountPath: '/var/lib/kubeqa/cache' },
      { name: 'tmp', mountPath: '/tmp' },
    ],
  };

  const runner = {
    name: 'runner',
    image: pool.spec.runnerImage ?? config.runnerImage,
    imagePullPolicy: config.imagePullPolicy ?? 'IfNotPresent',
    args: ['worker', 'run-job', '--job', String(job.id)],
    env,
    resources: runnerResources,
    securityContext: containerSecurity,
    volumeMounts: [
      { name: 'cache', mountPath: '/var/lib/kubeqa/cache' },
      { name: 'work', mountPath: '/work' },
      { name: 'tmp', mountPath: '/tmp' },
      ...(useKvmHostPath ? [{ name: 'kvm', mountPath: '/dev/kvm' }] : []),
    ],
  };

  const pod = {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: {
      name,
      namespace: job.namespace,
      labels,
      annotations: { [ANNOTATION_DO_NOT_DISRUPT]: 'true' },
      ...(ownerReferences ? { ownerReferences } : {}),
    },
    spec: {
      restartPolicy: 'Never',
      automountServiceAccountToken: false,
      enableServiceLinks: false,
      terminationGracePeriodSeconds: 60,
      ...(config.priorityClassName ? { priorityClassName: config.priorityClassName } : {}),
      nodeSelector: { 'kubernetes.io/arch': archLabel(pool.spec.arch), ...(pool.spec.nodeSelector ?? {}) },
      ...(pool.spec.tolerations ? { tolerations: pool.spec.tolerations } : {}),
      ...(pool.spec.affinity ? { affinity: pool.spec.affinity } : {}),
      securityContext: {
        runAsNonRoot: true,
        runAsUser: config.runAsUser,
        runAsGroup: config.runAsUser,
        fsGroup: config.runAsUser,
        ...(useKvmHostPath ? { supplementalGroups: [config.kvmGroupId] } : {}),
        seccompProfile: { type: 'RuntimeDefault' },
      },
      initContainers: [cacheSidecar],
      containers: [runner],
      volumes,
    },
  };

  const secret = {
    apiVersion: 'v1',
    kind: 'Secret',
    type: 'Opaque',
    metadata: {
      name: secretName,
      namespace: job.namespace,
      labels,
      ...(ownerReferences ? { ownerReferences } : {}),
    },
    stringData: { token },
  };
  return { pod: stripUndefined(pod), secret };
}

/** Kubernetes' arch label values for openQA's ARCH names. */
export function archLabel(arch: string): string {
  const map: Record<string, string> = {
    x86_64: 'amd64',
    aarch64: 'arm64',
    ppc64le: 'ppc64le',
    s390x: 's390x',
  };
  return map[arch] ?? arch;
}

function stripUndefined<T>(value: T): T {
  return JSON.parse(JSON.stringify(value)) as T;
}

/**
 * The pod of one slot assignment: one job, or a directly chained sequence run in this order by
 * one runner (`worker run-job --job A --job B …`). Named after the first job; the Secret holds
 * each job's token (`token` = the first job's, `token-<id>` for every job), and the runner gets
 * them as KUBEQA_JOB_TOKEN and KUBEQA_JOB_TOKEN_<id> from the Secret, never as plain values.
 */
export function buildSlotPod(
  jobs: readonly PodJob[],
  pool: PodPool,
  config: PodOperatorConfig,
  tokens: ReadonlyMap<number, string>,
  slotId: string,
): TestPodManifests {
  const first = jobs[0];
  if (!first) throw new Error('a slot pod needs at least one job');
  const firstToken = tokens.get(first.id);
  if (!firstToken) throw new Error(`no token for job ${first.id}`);
  const { pod, secret } = buildTestPod(first, pool, config, firstToken);
  const ids = jobs.map((job) => job.id);
  const secretName = tokenSecretName(first.id);
  const meta = pod.metadata as { annotations: Record<string, string> };
  meta.annotations['kubeqa.io/job-ids'] = ids.join(',');
  meta.annotations['kubeqa.io/slot'] = slotId;
  const spec = pod.spec as { containers: Array<{ args: string[]; env: Record<string, unknown>[] }> };
  const runner = spec.containers[0] as { args: string[]; env: Record<string, unknown>[] };
  runner.args = ['worker', 'run-job', ...ids.flatMap((id) => ['--job', String(id)])];
  if (ids.length > 1) {
    runner.env.push({ name: 'KUBEQA_JOB_IDS', value: ids.join(',') });
    for (const id of ids)
      runner.env.push({
        name: `KUBEQA_JOB_TOKEN_${id}`,
        valueFrom: { secretKeyRef: { name: secretName, key: `token-${id}` } },
      });
  }
  const data: Record<string, string> = { token: firstToken };
  for (const id of ids) {
    const token = tokens.get(id);
    if (!token) throw new Error(`no token for job ${id}`);
    data[`token-${id}`] = token;
  }
  (secret as { stringData: Record<string, string> }).stringData = data;
  // the jobs whose tokens it holds: a Secret left without its pod is deleted once they all ended
  (secret.metadata as { annotations?: Record<string, string> }).annotations = {
    'kubeqa.io/job-ids': ids.join(','),
  };
  return { pod, secret };
}
