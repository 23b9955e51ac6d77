// `helm install`, `helm upgrade` and `helm uninstall` of the chart against the real kube-apiserver
// (no controllers or kubelet: objects are stored, nothing runs). Proves what only a real release
// shows: the Worker pools (hooks) are created after their CRDs, generated passwords survive an
// upgrade (lookup), and uninstalling keeps the CRDs and the jobs namespace.
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { KubeApiError, KubeClient } from '../../operator/kube/client.js';
import { kubeqaCrds } from '../../operator/kube/crds.js';
import { testEnv } from '../env/index.js';
import { CHART_DIR, helm } from './chart.js';

const RELEASE = 'kubeqa';
const NS = 'chart-install';
const JOBS_NS = 'chart-install-jobs';
let client: KubeClient;
let kubeconfig: string;
let values: string;

type Obj = {
  metadata: { name: string; annotations?: Record<string, string>; labels?: Record<string, string> };
  spec?: Record<string, unknown>;
  data?: Record<string, string>;
};

async function exists(path: string): Promise<boolean> {
  try {
    await client.get(path);
    return true;
  } catch (error) {
    if (error instanceof KubeApiError && error.statusCode === 404) return false;
    throw error;
  }
}

async function helmOk(args: string[]): Promise<string> {
  const result = await helm([...args, '--kubeconfig', kubeconfig]);
  expect(result.code, result.stderr).toBe(0);
  return result.stdout;
}

const adminPassword = async () =>
  Buffer.from(
    (await client.get<Obj>(`/api/v1/namespaces/${NS}/secrets/kubeqa-admin`)).data!.KUBEQA_ADMIN_PASSWORD!,
    'base64',
  ).toString();

beforeAll(async () => {
  const kube = await testEnv.kube();
  kubeconfig = kube.kubeconfig;
  client = await KubeClient.fromKubeconfig(kubeconfig);
  const dir = mkdtempSync(join(tmpdir(), 'kubeqa-chart-install-'));
  values = join(dir, 'values.yaml');
  writeFileSync(values, JSON.stringify({ jobs: { namespace: JOBS_NS } }));
  // Other test files of the run install the CRDs without Helm. A cluster where someone applied
  // crds/ with kubectl first is in the same state; Helm adopts objects carrying its ownership
  // metadata (docs/install.md, "Upgrades").
  for (const crd of kubeqaCrds()) {
    const path = `/apis/apiextensions.k8s.io/v1/customresourcedefinitions/${crd.metadata.name}`;
    if (!(await exists(path))) continue;
    await client.patch(path, {
      metadata: {
        labels: { 'app.kubernetes.io/managed-by': 'Helm' },
        annotations: { 'meta.helm.sh/release-name': RELEASE, 'meta.helm.sh/release-namespace': NS },
      },
    });
  }
});

describe('a Helm release of the chart on the real API server', () => {
  it('installs: CRDs kept, operator and web UI, the Worker pool created after its CRD', async () => {
    await helmOk(['install', RELEASE, CHART_DIR, '-n', NS, '--create-namespace', '-f', values]);
    for (const crd of kubeqaCrds()) {
      const got = await client.get<Obj>(
        `/apis/apiextensions.k8s.io/v1/customresourcedefinitions/${crd.metadata.name}`,
      );
      expect(got.metadata.annotations?.['helm.sh/resource-policy']).toBe('keep');
    }
    const deployment = await client.get<Obj>(`/apis/apps/v1/namespaces/${NS}/deployments/kubeqa-operator`);
    expect(deployment.spec?.replicas).toBe(2);
    expect(await exists(`/apis/apps/v1/namespaces/${NS}/deployments/kubeqa-webui`)).toBe(true);
    const worker = await client.get<Obj>(
      `/apis/kubeqa.io/v1alpha1/namespaces/${JOBS_NS}/workers/qemu-x86-64`,
    );
    expect(worker.spec?.workerClasses).toEqual(['qemu_x86_64']);
    const ns = await client.get<Obj>(`/api/v1/namespaces/${JOBS_NS}`);
    expect(ns.metadata.labels?.['pod-security.kubernetes.io/enforce']).toBe('privileged');
  });

  it('upgrades: changed values applied, the generated admin password kept', async () => {
    const before = await adminPassword();
    expect(before).toMatch(/^[A-Za-z0-9]{24}$/);
    await helmOk(['upgrade', RELEASE, CHART_DIR, '-n', NS, '-f', values, '--set', 'operator.replicas=3']);
    const deployment = await client.get<Obj>(`/apis/apps/v1/namespaces/${NS}/deployments/kubeqa-operator`);
    expect(deployment.spec?.replicas).toBe(3);
    expect(await adminPassword()).toBe(before);
    expect(await exists(`/apis/kubeqa.io/v1alpha1/namespaces/${JOBS_NS}/workers/qemu-x86-64`)).toBe(true);
  });

  it('uninstalls the workloads but keeps the CRDs and the jobs namespace', async () => {
    await helmOk(['uninstall', RELEASE, '-n', NS]);
    expect(await exists(`/apis/apps/v1/namespaces/${NS}/deployments/kubeqa-operator`)).toBe(false);
    expect(await exists(`/api/v1/namespaces/${NS}/secrets/kubeqa-admin`)).toBe(false);
    for (const crd of kubeqaCrds())
      expect(
        await exists(`/apis/apiextensions.k8s.io/v1/customresourcedefinitions/${crd.metadata.name}`),
      ).toBe(true);
    expect(await exists(`/api/v1/namespaces/${JOBS_NS}`)).toBe(true);
  });
});
