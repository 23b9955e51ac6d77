// The test pod's shape (pure) and its acceptance by the real apiserver.

import { beforeAll, describe, expect, it } from 'vitest';
import { KubeClient } from '../../operator/kube/client.js';
import {
  ANNOTATION_DO_NOT_DISRUPT,
  buildTestPod,
  cacheLimitGiB,
  type PodOperatorConfig,
  type PodPool,
} from '../../operator/pods/build-pod.js';
import { testEnv } from '../env/index.js';
import { ensureNamespace } from '../helpers/namespace.js';

const config: PodOperatorConfig = {
  runnerImage: 'ghcr.io/kubeqa/worker:0.1.0',
  apiUrl: 'http://kubeqa-webui.kubeqa.svc:9526',
  cacheHostPath: '/var/lib/kubeqa/cache',
  kvmDevice: { kind: 'hostPath' },
  kvmGroupId: 108,
  runAsUser: 1000,
  storageSecretName: 'kubeqa-storage',
};
const pool: PodPool = {
  name: 'qemu-x86-64',
  spec: {
    workerClasses: ['qemu_x86_64'],
    arch: 'x86_64',
    nodeSelector: { 'kubeqa.io/kvm': 'true' },
    tolerations: [{ key: 'kubeqa.io/kvm', operator: 'Exists', effect: 'NoSchedule' }],
    resources: { requests: { cpu: '2', memory: '3Gi' }, limits: { memory: '4Gi' } },
    cacheSize: '50Gi',
    kvm: 'required',
  },
};
const job = {
  id: 42,
  namespace: 'pod-tests',
  settings: { TEST: 'busybox_shell' },
  owner: { name: 'busybox-smoke', uid: '6f1d2b7e-8a65-4e55-9c1f-1d2a3b4c5d6e' },
};

// biome-ignore lint/suspicious/noExplicitAny: assertions walk the manifests freely
type AnyObj = Record<string, any>;

describe('buildTestPod', () => {
  const { pod, secret } = buildTestPod(job, pool, config, 's3cr3t-token') as { pod: AnyObj; secret: AnyObj };

  it('runs unprivileged, non-root, read-only, with all capabilities dropped', () => {
    expect(pod.spec.securityContext).toMatchObject({
      runAsNonRoot: true,
      runAsUser: 1000,
      seccompProfile: { type: 'RuntimeDefault' },
    });
    for (const c of [...pod.spec.containers, ...pod.spec.initContainers]) {
      expect(c.securityContext).toEqual({
        allowPrivilegeEscalation: false,
        privileged: false,
        readOnlyRootFilesystem: true,
        runAsNonRoot: true,
        capabilities: { drop: ['ALL'] },
      });
    }
    expect(pod.spec.automountServiceAccountToken).toBe(false);
  });

  it('gets KVM through the /dev/kvm character device and the kvm group', () => {
    expect(pod.spec.volumes).toContainEqual({
      name: 'kvm',
      hostPath: { path: '/dev/kvm', type: 'CharDevice' },
    });
    expect(pod.spec.containers[0].volumeMounts).toContainEqual({ name: 'kvm', mountPath: '/dev/kvm' });
    expect(pod.spec.securityContext.supplementalGroups).toEqual([108]);
  });

  it('runs the cache as a native sidecar sharing the node cache', () => {
    const [sidecar] = pod.spec.initContainers;
    expect(sidecar.restartPolicy).toBe('Always');
    // Its socket is in the pod's own /tmp, which the runner shares, never on the node-wide cache.
    expect(sidecar.args).toEqual(['cache', 'serve', '--socket', '/tmp/kubeqa-cache.sock']);
    expect(pod.spec.containers[0].env).toContainEqual({
      name: 'KUBEQA_CACHE_SOCKET',
      value: '/tmp/kubeqa-cache.sock',
    });
    expect(pod.spec.containers[0].volumeMounts).toContainEqual({ name: 'tmp', mountPath: '/tmp' });
    expect(sidecar.env).toContainEqual({ name: 'CACHELIMIT', value: '50' });
    expect(pod.spec.volumes).toContainEqual({
      name: 'cache',
      hostPath: { path: '/var/lib/kubeqa/cache', type: 'DirectoryOrCreate' },
    });
  });

  it('places the pod on the pool nodes, keeps autoscalers off it, and is owned by the Job', () => {
    expect(pod.spec.nodeSelector).toEqual({ 'kubernetes.io/arch': 'amd64', 'kubeqa.io/kvm': 'true' });
    expect(pod.spec.tolerations).toEqual(pool.spec.tolerations);
    expect(pod.metadata.annotations[ANNOTATION_DO_NOT_DISRUPT]).toBe('true');
    expect(pod.metadata.ownerReferences[0]).toMatchObject({
      kind: 'Job',
      name: 'busybox-smoke',
      controller: true,
    });
    expect(pod.spec.containers[0].resources).toEqual(pool.spec.resources);
  });

  it('passes the job token by Secret reference, never by value', () => {
    expect(JSON.stringify(pod)).not.toContain('s3cr3t-token');
    expect(pod.spec.containers[0].env).toContainEqual({
      name: 'KUBEQA_JOB_TOKEN',
      valueFrom: { secretKeyRef: { name: 'kubeqa-job-42-token', key: 'token' } },
    });
    expect(secret.stringData).toEqual({ token: 's3cr3t-token' });
  });

  it('uses software emulation for kvm: off, and a device-plugin resource when configured', () => {
    const off = buildTestPod(job, { ...pool, spec: { ...pool.spec, kvm: 'off' } }, config, 't').pod as AnyObj;
    expect(off.spec.volumes.map((v: AnyObj) => v.name)).not.toContain('kvm');
    expect(off.spec.containers[0].env).toContainEqual({ name: 'QEMU_NO_KVM', value: '1' });
    const plugin = buildTestPod(
      job,
      pool,
      { ...config, kvmDevice: { kind: 'resource', name: 'devices.kubevirt.io/kvm' } },
      't',
    ).pod as AnyObj;
    expect(plugin.spec.containers[0].resources.limits['devices.kubevirt.io/kvm']).toBe('1');
    expect(plugin.spec.volumes.map((v: AnyObj) => v.name)).not.toContain('kvm');
  });

  it('converts cache sizes to GiB', () => {
    expect(cacheLimitGiB('50Gi')).toBe(50);
    expect(cacheLimitGiB('1Ti')).toBe(1024);
    expect(cacheLimitGiB(2 ** 31)).toBe(2);
    expect(cacheLimitGiB('lots')).toBeUndefined();
  });
});

describe('the test pod on the real apiserver', () => {
  let client: KubeClient;
  beforeAll(async () => {
    client = await KubeClient.fromKubeconfig((await testEnv.kube()).kubeconfig);
    await ensureNamespace(client, 'pod-tests');
  });

  it('is accepted as built (the apiserver here refuses privileged pods)', async () => {
    const { pod, secret } = buildTestPod({ ...job, owner: undefined }, pool, config, 'token');
    await client.create('/api/v1/namespaces/pod-tests/secrets', secret);
    const created = await client.create<AnyObj>('/api/v1/namespaces/pod-tests/pods', pod);
    expect(created.metadata.name).toBe('kubeqa-job-42');
    expect(created.spec.initContainers[0].restartPolicy).toBe('Always');
    const privileged = structuredClone(pod) as AnyObj;
    privileged.metadata.name = 'privileged';
    privileged.spec.containers[0].securityContext.privileged = true;
    await expect(client.create('/api/v1/namespaces/pod-tests/pods', privileged)).rejects.toThrow(
      /privileged/,
    );
  });
});
