// Every object `helm template` renders, for the default values and for the full example values, is
// accepted by the real kube-apiserver in a server-side dry run (CRDs and the Gateway API's
// HTTPRoute CRD installed first). The pods of the release namespace pass the `restricted` Pod
// Security level, and a test pod as the operator builds it needs the jobs namespace's `privileged`.
import { beforeAll, describe, expect, it } from 'vitest';
import { KubeApiError, KubeClient } from '../../operator/kube/client.js';
import type { ManifestObject } from '../../operator/kube/crds.js';
import { buildTestPod } from '../../operator/pods/build-pod.js';
import { testEnv } from '../env/index.js';
import { FULL_VALUES, renderChart } from './chart.js';
import { applyAll, ensureNamespace, installRenderedCrds } from './kube.js';

let client: KubeClient;

beforeAll(async () => {
  const kube = await testEnv.kube();
  client = await KubeClient.fromKubeconfig(kube.kubeconfig);
});

/** The Pod a controller would create from a workload's pod template, for a dry-run create. */
function podFromTemplate(obj: ManifestObject): ManifestObject {
  const workload = obj.spec as {
    template: { metadata?: Record<string, unknown>; spec: { volumes?: unknown[] } };
    volumeClaimTemplates?: Array<{ metadata: { name: string } }>;
  };
  const template = structuredClone(workload.template);
  // The StatefulSet controller adds one volume per claim template, bound to the pod's claim.
  for (const claim of workload.volumeClaimTemplates ?? []) {
    template.spec.volumes = [
      ...(template.spec.volumes ?? []),
      {
        name: claim.metadata.name,
        persistentVolumeClaim: { claimName: `${claim.metadata.name}-${obj.metadata.name}-0` },
      },
    ];
  }
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: {
      ...(template.metadata ?? {}),
      name: `${obj.metadata.name}-dry`.toLowerCase(),
      namespace: obj.metadata.namespace,
    },
    spec: template.spec,
  };
}

async function dryRunCreatePod(pod: ManifestObject, namespace: string): Promise<string | undefined> {
  try {
    await client.create(`/api/v1/namespaces/${namespace}/pods?dryRun=All`, {
      ...pod,
      metadata: { ...pod.metadata, namespace },
    });
    return undefined;
  } catch (error) {
    if (error instanceof KubeApiError) return error.message;
    throw error;
  }
}

const cases = [
  { name: 'default values', release: 'chart-default', jobsNamespace: 'kubeqa-jobs', valuesFiles: [] },
  {
    name: 'full example values',
    release: 'chart-full',
    jobsNamespace: 'kubeqa-tests',
    valuesFiles: [FULL_VALUES],
  },
];

describe.each(cases)('helm template with the $name', ({ release, jobsNamespace, valuesFiles }) => {
  let objects: ManifestObject[];

  beforeAll(async () => {
    objects = await renderChart({ release: 'kubeqa', namespace: release, valuesFiles });
    await installRenderedCrds(client, objects);
    // What `helm install --create-namespace` does, labelled as docs/install.md recommends.
    await ensureNamespace(client, release, { 'pod-security.kubernetes.io/enforce': 'restricted' });
    // The jobs namespace is one of the rendered objects; it must exist before objects inside it.
    const ns = objects.find((o) => o.kind === 'Namespace');
    expect(ns?.metadata.name).toBe(jobsNamespace);
    const [created] = await applyAll(client, [ns!], { dryRun: false });
    expect(created?.error).toBeUndefined();
  });

  it('is accepted object by object in a server-side dry run', async () => {
    const outcomes = await applyAll(client, objects, { dryRun: true, namespace: release });
    expect(outcomes.filter((o) => o.error)).toEqual([]);
    expect(outcomes).toHaveLength(objects.length);
    const kinds = new Set(objects.map((o) => o.kind));
    for (const kind of ['CustomResourceDefinition', 'Deployment', 'Service', 'Role', 'RoleBinding', 'Worker'])
      expect(kinds).toContain(kind);
  });

  it('runs the pods of the release namespace under the restricted Pod Security level', async () => {
    const workloads = objects.filter((o) => ['Deployment', 'StatefulSet', 'Job'].includes(o.kind));
    const pods = [...workloads.map(podFromTemplate), ...objects.filter((o) => o.kind === 'Pod')];
    expect(pods.length).toBeGreaterThanOrEqual(3);
    const refusals: string[] = [];
    for (const pod of pods) {
      const refusal = await dryRunCreatePod(pod, release);
      if (refusal) refusals.push(refusal);
    }
    expect(refusals).toEqual([]);
  });

  it('labels the jobs namespace so that the operator’s test pods are admitted there', async () => {
    const pool = objects.find((o) => o.kind === 'Worker');
    expect(pool).toBeDefined();
    const { pod } = buildTestPod(
      { id: 7, namespace: jobsNamespace, settings: {} },
      { name: pool!.metadata.name, spec: pool!.spec as never },
      {
        runnerImage: 'registry.example.org/kubeqa-worker:0.1.0',
        apiUrl: 'http://kubeqa-webui.kubeqa.svc:9526',
        cacheHostPath: '/var/lib/kubeqa/cache',
        kvmDevice: { kind: 'hostPath' },
        kvmGroupId: 36,
        runAsUser: 1000,
      },
      'token',
    );
    expect(await dryRunCreatePod(pod as ManifestObject, jobsNamespace)).toBeUndefined();
    // The same pod in the restricted release namespace is refused (hostPath volumes).
    expect(await dryRunCreatePod(pod as ManifestObject, release)).toMatch(/violates PodSecurity.*hostPath/s);
  });
});

describe('the dry run is a real check', () => {
  it('refuses an object the API server finds invalid', async () => {
    const objects = await renderChart({ release: 'kubeqa', namespace: 'chart-default' });
    const deployment = structuredClone(objects.find((o) => o.kind === 'Deployment')!);
    const spec = deployment.spec as { template: { spec: { containers: Array<{ ports: unknown[] }> } } };
    spec.template.spec.containers[0]!.ports = [{ name: 'metrics', containerPort: 70000 }];
    await ensureNamespace(client, 'chart-default');
    const [outcome] = await applyAll(client, [deployment], { dryRun: true });
    expect(outcome?.error).toMatch(/containerPort/);
  });
});
