// The operator started as the chart's Deployment starts it: the container's args and environment
// taken from the rendered manifest (ConfigMap, Secret, downward API resolved as the kubelet would),
// credentials of the chart's operator ServiceAccount (a token from the TokenRequest API, so the
// chart's RBAC is what it runs with), against the harness's apiserver and PostgreSQL. It becomes
// ready, takes the Lease, reconciles the chart's sample Worker pool, and runs a sample Job
// (config/samples) to a test pod, whose end (played by the FAKE kubelet: no kubelet runs here)
// shows on the Job's status. The one change: the health port is a free one instead of 8080, as
// several test runs share this machine.
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { KubeClient } from '../../operator/kube/client.js';
import { loadManifests, type ManifestObject } from '../../operator/kube/crds.js';
import { packageRoot } from '../../runtime/package-root.js';
import { createDatabase, testEnv } from '../env/index.js';
import { freePort } from '../env/ports.js';
import { type ManagedProcess, spawnService, waitUntilReady } from '../env/processes.js';
import { FakeKubelet } from '../operator/fake-kubelet.js';
import { waitForObject } from '../operator/wait.js';
import { findObject, renderChart } from './chart.js';
import { applyAll, ensureNamespace, installRenderedCrds } from './kube.js';

const RELEASE_NS = 'chart-operator';
const JOBS_NS = 'chart-operator-jobs';
const POD_NAME = 'kubeqa-operator-7d9f8c6b5-x2x4q';

interface EnvVar {
  name: string;
  value?: string;
  valueFrom?: {
    fieldRef?: { fieldPath: string };
    secretKeyRef?: { name: string; key: string };
    configMapKeyRef?: { name: string; key: string };
  };
}
interface Container {
  name: string;
  args?: string[];
  env?: EnvVar[];
  envFrom?: Array<{ configMapRef?: { name: string }; secretRef?: { name: string } }>;
  ports?: Array<{ name: string; containerPort: number }>;
  readinessProbe?: { httpGet?: { path: string; port: string | number } };
}

/** The container's environment as the kubelet would set it, from the rendered objects. */
function resolveEnv(
  container: Container,
  objects: ManifestObject[],
  pod: { name: string; namespace: string },
) {
  const data = (kind: 'ConfigMap' | 'Secret', name: string): Record<string, string> => {
    const obj = objects.find((o) => o.kind === kind && o.metadata.name === name);
    if (!obj) throw new Error(`the container refers to ${kind} ${name}, which the chart does not render`);
    return (kind === 'ConfigMap' ? obj.data : obj.stringData) as Record<string, string>;
  };
  const env: Record<string, string> = {};
  for (const source of container.envFrom ?? []) {
    if (source.configMapRef) Object.assign(env, data('ConfigMap', source.configMapRef.name));
    if (source.secretRef) Object.assign(env, data('Secret', source.secretRef.name));
  }
  for (const variable of container.env ?? []) {
    const from = variable.valueFrom;
    if (variable.value !== undefined) env[variable.name] = variable.value;
    else if (from?.fieldRef?.fieldPath === 'metadata.name') env[variable.name] = pod.name;
    else if (from?.fieldRef?.fieldPath === 'metadata.namespace') env[variable.name] = pod.namespace;
    else if (from?.secretKeyRef) {
      const value = data('Secret', from.secretKeyRef.name)[from.secretKeyRef.key];
      if (value === undefined)
        throw new Error(`Secret ${from.secretKeyRef.name} has no ${from.secretKeyRef.key}`);
      env[variable.name] = value;
    } else if (from?.configMapKeyRef) {
      env[variable.name] = data('ConfigMap', from.configMapKeyRef.name)[from.configMapKeyRef.key] ?? '';
    } else throw new Error(`cannot resolve ${variable.name}: ${JSON.stringify(from)}`);
  }
  return env;
}

function httpGet(port: number, path: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk) => {
        body += chunk;
      });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('error', reject);
    req.end();
  });
}

let admin: KubeClient;
let operator: ManagedProcess | undefined;
let objects: ManifestObject[];
let container: Container;
let env: Record<string, string>;
let healthPort: number;

beforeAll(async () => {
  const kube = await testEnv.kube();
  admin = await KubeClient.fromKubeconfig(kube.kubeconfig);
  const databaseUrl = await createDatabase(await testEnv.postgres(), 'chart_operator');

  const dir = mkdtempSync(join(tmpdir(), 'kubeqa-chart-operator-'));
  const values = join(dir, 'values.yaml');
  writeFileSync(values, JSON.stringify({ jobs: { namespace: JOBS_NS }, database: { url: databaseUrl } }));
  objects = await renderChart({ release: 'kubeqa', namespace: RELEASE_NS, valuesFiles: [values] });

  // What `helm install --create-namespace` does: CRDs, namespaces, then every object for real
  // (the Deployment just sits there: the harness has no controllers or kubelet).
  await installRenderedCrds(admin, objects);
  await ensureNamespace(admin, RELEASE_NS);
  const outcomes = await applyAll(admin, objects, { dryRun: false, namespace: RELEASE_NS });
  expect(outcomes.filter((o) => o.error)).toEqual([]);

  // The operator ServiceAccount's credentials, as a projected token gives them to the pod.
  const deployment = findObject(objects, 'Deployment', 'kubeqa-operator');
  const podSpec = (
    deployment.spec as { template: { spec: { serviceAccountName: string; containers: Container[] } } }
  ).template.spec;
  const token = await admin.create<{ status: { token: string } }>(
    `/api/v1/namespaces/${RELEASE_NS}/serviceaccounts/${podSpec.serviceAccountName}/token`,
    { apiVersion: 'authentication.k8s.io/v1', kind: 'TokenRequest', spec: { expirationSeconds: 3600 } },
  );
  const kubeconfig = join(dir, 'kubeconfig');
  writeFileSync(
    kubeconfig,
    JSON.stringify({
      apiVersion: 'v1',
      kind: 'Config',
      clusters: [
        {
          name: 'harness',
          cluster: {
            server: kube.server,
            'certificate-authority-data': Buffer.from(readFileSync(kube.caFile)).toString('base64'),
          },
        },
      ],
      users: [{ name: 'operator', user: { token: token.status.token } }],
      contexts: [{ name: 'operator', context: { cluster: 'harness', user: 'operator' } }],
      'current-context': 'operator',
    }),
  );

  container = podSpec.containers[0]!;
  env = resolveEnv(container, objects, { name: POD_NAME, namespace: RELEASE_NS });
  healthPort = await freePort();
  const root = packageRoot();
  operator = spawnService(
    'chart-operator',
    process.execPath,
    ['--import', 'tsx', join(root, 'cli', 'main.ts'), ...(container.args ?? [])],
    {
      cwd: root,
      env: {
        ...env,
        KUBEQA_HEALTH_PORT: String(healthPort),
        KUBECONFIG: kubeconfig,
        PATH: process.env.PATH,
        HOME: process.env.HOME,
      },
    },
  );
});

afterAll(async () => {
  await operator?.stop();
});

describe('the operator started from the rendered Deployment', () => {
  it('is configured only by what the chart renders', () => {
    expect(container.args).toEqual(['operator']);
    expect(env.KUBEQA_WATCH_NAMESPACE).toBe(JOBS_NS);
    expect(env.KUBEQA_LEADER_ELECTION).toBe('true');
    expect(env.POD_NAMESPACE).toBe(RELEASE_NS);
    expect(env.KUBEQA_DATABASE_URL).toMatch(/^postgres:\/\//);
    expect(env.KUBEQA_API_URL).toBe(`http://kubeqa-webui.${RELEASE_NS}.svc:9526`);
    expect(container.ports?.find((p) => p.name === 'metrics')?.containerPort).toBe(
      Number(env.KUBEQA_HEALTH_PORT),
    );
  });

  it('takes the Lease in its own namespace under its pod name', async () => {
    const lease = await waitForObject<{ metadata: { name: string }; spec?: { holderIdentity?: string } }>(
      admin,
      `/apis/coordination.k8s.io/v1/namespaces/${RELEASE_NS}/leases`,
      env.KUBEQA_LEADER_ELECTION_ID!,
      (l) => l.spec?.holderIdentity === POD_NAME,
      60_000,
    );
    expect(lease.metadata.name).toBe('kubeqa-operator');
  });

  it('reconciles the chart’s sample Worker pool with the chart’s RBAC', async () => {
    const pool = objects.find((o) => o.kind === 'Worker')!;
    const worker = await waitForObject<{
      metadata: { name: string };
      status?: { conditions?: Array<{ type: string; status: string; reason: string }> };
    }>(
      admin,
      `/apis/kubeqa.io/v1alpha1/namespaces/${JOBS_NS}/workers`,
      pool.metadata.name,
      (w) => w.status?.conditions?.some((c) => c.type === 'Ready') ?? false,
      60_000,
    );
    expect(worker.status?.conditions?.find((c) => c.type === 'Ready')?.reason).toBe('PoolReady');
  });

  it('runs a sample Job: queued, a test pod on the sample pool, its end on the Job’s status', async () => {
    const [sample] = loadManifests(join(packageRoot(), 'config', 'samples', 'job-busybox.yaml'));
    const jobs = `/apis/kubeqa.io/v1alpha1/namespaces/${JOBS_NS}/jobs`;
    await admin.create(jobs, sample);
    type Job = {
      metadata: { name: string; finalizers?: string[] };
      status?: { jobId?: number; phase?: string; result?: string; reason?: string };
    };
    const name = sample!.metadata.name;
    const queued = await waitForObject<Job>(admin, jobs, name, (j) => j.status?.jobId !== undefined, 60_000);
    expect(queued.metadata.finalizers).toBeUndefined(); // no finalizer: deletes are watched and swept
    const pod = await waitForObject<{
      metadata: { name: string; labels?: Record<string, string> };
      spec: { nodeSelector?: Record<string, string> };
    }>(admin, `/api/v1/namespaces/${JOBS_NS}/pods`, `kubeqa-job-${queued.status?.jobId}`, () => true, 60_000);
    expect(pod.metadata.labels?.['kubeqa.io/worker']).toBe('qemu-x86-64');
    expect(pod.spec.nodeSelector?.['kubeqa.io/kvm']).toBe('true');
    // The node (FAKE kubelet) reports the runner failed before it reported a result.
    const kubelet = new FakeKubelet(admin);
    await kubelet.running(JOBS_NS, pod.metadata.name);
    await kubelet.terminated(JOBS_NS, pod.metadata.name, 'Failed', 1);
    const done = await waitForObject<Job>(admin, jobs, name, (j) => j.status?.phase === 'done', 60_000);
    expect(done.status?.result).toBe('incomplete');
    expect(done.status?.reason).toMatch(/^runner died: exit code 1/);
  });

  it('answers its readiness probe (the path in the manifest) and serves metrics', async () => {
    const path = container.readinessProbe?.httpGet?.path ?? '';
    expect(path).toBe('/readyz');
    await waitUntilReady(operator!, 'the operator’s readiness', async () => {
      const res = await httpGet(healthPort, path).catch(() => undefined);
      return res?.status === 200;
    });
    const ready = await httpGet(healthPort, path);
    expect(ready.body).toContain('[+]database');
    expect(ready.body).toContain('[+]informers synced');
    const metrics = await httpGet(healthPort, '/metrics');
    expect(metrics.body).toMatch(/leader_election_master_status\{name="kubeqa-operator"\} 1/);
  });

  it('was never refused by the API server, and stops cleanly on SIGTERM', async () => {
    await operator!.stop(10_000);
    const { code } = await operator!.exited;
    const log = readFileSync(operator!.logPath, 'utf8');
    expect(log).not.toMatch(/forbidden/i);
    expect(code, log.slice(-3000)).toBe(0);
  });
});
