// The operator as a whole against the real apiserver and PostgreSQL: leader election, Worker
// pool status from its pods, Events, health and metrics endpoints, fail-over to a standby.

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { operatorConfigFromEnv } from '../../operator/config.js';
import { KubeClient } from '../../operator/kube/client.js';
import { installCrds, KUBEQA_API_VERSION } from '../../operator/kube/crds.js';
import { type RunningOperator, runOperator } from '../../operator/manager.js';
import { buildTestPod } from '../../operator/pods/build-pod.js';
import { createLogger } from '../../runtime/logger.js';
import { createDatabase, testEnv } from '../env/index.js';
import { ensureNamespace } from '../helpers/namespace.js';
import { waitForItem, waitForObject } from './wait.js';

const NS = 'manager-tests';
const WORKERS = `/apis/${KUBEQA_API_VERSION}/namespaces/${NS}/workers`;
let client: KubeClient;
let kubeconfig: string;
let env: Record<string, string>;
const running: RunningOperator[] = [];

beforeAll(async () => {
  const kube = await testEnv.kube();
  kubeconfig = kube.kubeconfig;
  client = await KubeClient.fromKubeconfig(kubeconfig);
  await installCrds(client);
  await ensureNamespace(client, NS);
  env = {
    KUBEQA_DATABASE_URL: await createDatabase(await testEnv.postgres(), 'operator'),
    KUBEQA_API_URL: 'http://kubeqa-webui.kubeqa.svc:9526',
    KUBEQA_RUNNER_IMAGE: 'ghcr.io/kubeqa/worker:test',
    KUBEQA_WATCH_NAMESPACE: NS,
    KUBEQA_HEALTH_PORT: '0',
    POD_NAMESPACE: NS,
  };
});
afterAll(async () => {
  for (const op of running) await op.stop();
});

async function start(identity: string): Promise<RunningOperator> {
  const config = operatorConfigFromEnv({ ...env, POD_NAME: identity });
  config.leaderElection = { ...config.leaderElection, enabled: true };
  const op = await runOperator(config, { kubeconfig, log: createLogger(identity, 'warn') });
  running.push(op);
  return op;
}

type Worker = {
  metadata: { name: string };
  status?: { running?: number; conditions?: Array<{ type: string; status: string; reason: string }> };
};
const ready = (w: Worker, status: string, reason: string) =>
  w.status?.conditions?.some((c) => c.type === 'Ready' && c.status === status && c.reason === reason) ??
  false;

describe('the operator', () => {
  it('leads, keeps Worker status current from its pods, records Events and serves health and metrics', async () => {
    const op = await start('operator-1');
    await op.leadership;
    await client.create(WORKERS, {
      apiVersion: KUBEQA_API_VERSION,
      kind: 'Worker',
      metadata: { name: 'pool-a' },
      spec: { workerClasses: ['qemu_x86_64'], arch: 'x86_64', maxJobs: 3 },
    });
    const readyPool = await waitForObject<Worker>(client, WORKERS, 'pool-a', (w) =>
      ready(w, 'True', 'PoolReady'),
    );
    expect(readyPool.status?.running).toBe(0);

    // A test pod of the pool takes a slot.
    const { pod } = buildTestPod(
      { id: 7, namespace: NS, settings: { TEST: 't' } },
      { name: 'pool-a', spec: { workerClasses: ['qemu_x86_64'], arch: 'x86_64' } },
      operatorConfigFromEnv({ ...env, POD_NAME: 'x' }).pods,
      'token',
    );
    await client.create(`/api/v1/namespaces/${NS}/pods`, pod);
    await waitForObject<Worker>(client, WORKERS, 'pool-a', (w) => w.status?.running === 1);

    // Pausing the pool shows up in its condition and as a Warning event.
    await client.patch(`${WORKERS}/pool-a`, { spec: { maxJobs: 0 } });
    await waitForObject<Worker>(client, WORKERS, 'pool-a', (w) => ready(w, 'False', 'Paused'));
    const event = await waitForItem<{ reason: string; type: string }>(
      client,
      `/api/v1/namespaces/${NS}/events`,
      'involvedObject.name=pool-a,reason=Paused',
      () => true,
    );
    expect(event.type).toBe('Warning');

    const base = `http://127.0.0.1:${op.health.port}`;
    expect((await fetch(`${base}/healthz`)).status).toBe(200);
    const readyz = await fetch(`${base}/readyz`);
    expect(readyz.status).toBe(200);
    expect(await readyz.text()).toContain('[+]database reachable');
    const metrics = await (await fetch(`${base}/metrics`)).text();
    expect(metrics).toMatch(
      /controller_runtime_reconcile_total\{controller="worker",result="success"\} [1-9]/,
    );
    expect(metrics).toContain('leader_election_master_status{name="kubeqa-operator"} 1');
  });

  it('fails over to a standby instance when the leader stops', async () => {
    const [leader] = running;
    const standby = await start('operator-2');
    expect(standby.isLeader()).toBe(false);
    expect((await fetch(`http://127.0.0.1:${standby.health.port}/readyz`)).status).toBe(200);
    await leader!.stop();
    running.shift();
    await standby.leadership;
    // The new leader reconciles: un-pausing the pool is reflected.
    await client.patch(`${WORKERS}/pool-a`, { spec: { maxJobs: 2 } });
    await waitForObject<Worker>(client, WORKERS, 'pool-a', (w) => ready(w, 'True', 'PoolReady'));
  });
});
