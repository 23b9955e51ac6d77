// The whole job flow on the real apiserver + etcd and PostgreSQL: Job CR → ingest → the
// PostgreSQL scheduler assigns a Worker pool slot → the Kubernetes executor creates the test pod
// → the FAKE kubelet (pod phases) and FAKE runner (reports through the real runner API with the
// pod's token) run it → the CR's status is Finished with the result. Also: a pod that fails ends
// the job `incomplete`; cancel by delete; a parallel cluster's pods all or none; a directly
// chained sequence in one pod; a restarted operator and a fail-over to a standby instance make
// no duplicate pods.

import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type OpenDatabase, openPostgres } from '../../db/connect.js';
import { migrate } from '../../db/migrate.js';
import { operatorConfigFromEnv } from '../../operator/config.js';
import { KubeApiError, KubeClient } from '../../operator/kube/client.js';
import { installCrds, KUBEQA_API_VERSION } from '../../operator/kube/crds.js';
import { type RunningOperator, runOperator } from '../../operator/manager.js';
import { createLogger } from '../../runtime/logger.js';
import { buildApp } from '../../webui/app.js';
import { createDatabase, testEnv } from '../env/index.js';
import { ensureNamespace } from '../helpers/namespace.js';
import { waitGone } from '../helpers/wait-gone.js';
import { FakeKubelet } from './fake-kubelet.js';
import { FakeRunner, type PodLike } from './fake-runner.js';
import { waitForItem, waitForObject } from './wait.js';

const NS = 'operator-jobs-tests';
const JOBS = `/apis/${KUBEQA_API_VERSION}/namespaces/${NS}/jobs`;
const PODS = `/api/v1/namespaces/${NS}/pods`;
const WORKERS = `/apis/${KUBEQA_API_VERSION}/namespaces/${NS}/workers`;

interface Condition {
  type: string;
  status: string;
  reason: string;
}
interface JobCr {
  metadata: { name: string; uid: string };
  status?: { phase?: string; result?: string; reason?: string; jobId?: number; conditions?: Condition[] };
}
interface Pod extends PodLike {
  metadata: PodLike['metadata'] & {
    namespace: string;
    uid: string;
    deletionTimestamp?: string;
    labels?: Record<string, string>;
    ownerReferences?: Array<{ kind: string; name: string; uid: string }>;
  };
}

let client: KubeClient;
let kubeconfig: string;
let databaseUrl: string;
let database: OpenDatabase;
let api: FastifyInstance;
let kubelet: FakeKubelet;
let runner: FakeRunner;
const operators: RunningOperator[] = [];

async function startOperator(identity: string): Promise<RunningOperator> {
  const config = operatorConfigFromEnv({
    KUBEQA_DATABASE_URL: databaseUrl,
    KUBEQA_API_URL: 'http://kubeqa-webui.kubeqa.svc:9526',
    KUBEQA_RUNNER_IMAGE: 'ghcr.io/kubeqa/worker:test',
    KUBEQA_WATCH_NAMESPACE: NS,
    KUBEQA_LEADER_ELECTION_ID: 'operator-jobs-tests',
    KUBEQA_HEALTH_PORT: '0',
    KUBEQA_INGEST_SETTLE_MS: '50',
    POD_NAMESPACE: NS,
    POD_NAME: identity,
  });
  const op = await runOperator(config, {
    kubeconfig,
    log: createLogger(identity, (process.env.KUBEQA_TEST_LOG as 'info') ?? 'warn'),
  });
  operators.push(op);
  return op;
}

async function stopOperator(op: RunningOperator): Promise<void> {
  await op.stop();
  operators.splice(operators.indexOf(op), 1);
}

const condition = (cr: JobCr, type: string) => cr.status?.conditions?.find((c) => c.type === type);
const waitJob = (name: string, predicate: (cr: JobCr) => boolean) =>
  waitForObject<JobCr>(client, JOBS, name, predicate);
const waitPod = (name: string, predicate: (pod: Pod) => boolean = () => true) =>
  waitForObject<Pod>(client, PODS, name, predicate);

const waitPodGone = (name: string) => waitGone(client, PODS, name);

function jobCr(name: string, spec: Record<string, unknown> = {}) {
  return {
    apiVersion: KUBEQA_API_VERSION,
    kind: 'Job',
    metadata: { name },
    spec: {
      settings: { DISTRI: 'busybox', ARCH: 'x86_64', TEST: name, WORKER_CLASS: 'qemu_x86_64' },
      ...spec,
    },
  };
}

async function testPods(): Promise<Pod[]> {
  return (
    await client.get<{ items: Pod[] }>(`${PODS}?labelSelector=app.kubernetes.io%2Fcomponent%3Dtest-runner`)
  ).items;
}

/** Plays the node for a pod: running, the runner reports each job, the pod succeeds. */
async function runPod(pod: Pod, result = 'passed'): Promise<void> {
  await kubelet.running(NS, pod.metadata.name);
  for (const id of runner.jobsOf(pod)) await runner.run(pod, id, result);
  // The runner exits after its last set_done; the operator may already be deleting the pod, whose
  // jobs have all ended (then there is no status left to report).
  await kubelet.terminated(NS, pod.metadata.name, 'Succeeded', 0).catch((error: unknown) => {
    if (!(error instanceof KubeApiError && error.statusCode === 404)) throw error;
  });
}

beforeAll(async () => {
  const kube = await testEnv.kube();
  kubeconfig = kube.kubeconfig;
  client = await KubeClient.fromKubeconfig(kubeconfig);
  await installCrds(client);
  await ensureNamespace(client, NS);
  databaseUrl = await createDatabase(await testEnv.postgres(), 'operator_jobs');
  database = openPostgres({ url: databaseUrl });
  await migrate(database);
  api = await buildApp({ database, blobDir: mkdtempSync(join(tmpdir(), 'kubeqa-operator-jobs-')) });
  const apiUrl = await api.listen({ host: '127.0.0.1', port: 0 });
  kubelet = new FakeKubelet(client);
  runner = new FakeRunner(client, apiUrl);
  await client.create(WORKERS, {
    apiVersion: KUBEQA_API_VERSION,
    kind: 'Worker',
    metadata: { name: 'qemu' },
    spec: { workerClasses: ['qemu_x86_64'], arch: 'x86_64', maxJobs: 2 },
  });
  const op = await startOperator('operator-a');
  await op.leadership;
});

afterAll(async () => {
  for (const op of [...operators]) await op.stop();
  await api?.close();
  await database?.close();
});

describe('a Job CR on a cluster', () => {
  it('gets a pod on a pool slot, runs, and ends Finished with the runner’s result', async () => {
    await client.create(JOBS, jobCr('boot'));
    const queued = await waitJob('boot', (cr) => cr.status?.jobId !== undefined);
    const jobId = queued.status?.jobId as number;
    const pod = await waitPod(`kubeqa-job-${jobId}`);
    expect(pod.metadata.ownerReferences).toEqual([
      expect.objectContaining({ kind: 'Job', name: 'boot', uid: queued.metadata.uid }),
    ]);
    expect(pod.metadata.annotations?.['kubeqa.io/slot']).toMatch(new RegExp(`^${NS}/qemu/[01]$`));
    expect(JSON.stringify(pod.spec)).not.toMatch(/"KUBEQA_JOB_TOKEN","value"/);
    // The token Secret belongs to the Job CR from its creation (garbage-collected with it; the
    // operator deletes it when the pod goes: test/operator/token-secrets.test.ts).
    await waitForObject<{
      metadata: { name: string; ownerReferences?: Array<{ kind: string; uid: string }> };
    }>(
      client,
      `/api/v1/namespaces/${NS}/secrets`,
      `kubeqa-job-${jobId}-token`,
      (secret) =>
        secret.metadata.ownerReferences?.some((o) => o.kind === 'Job' && o.uid === queued.metadata.uid) ??
        false,
    );
    const assigned = await waitJob('boot', (cr) => condition(cr, 'Scheduled')?.status === 'True');
    expect(condition(assigned, 'Scheduled')?.reason).toBe('Assigned');

    await runPod(pod);
    const done = await waitJob('boot', (cr) => cr.status?.phase === 'done');
    expect(done.status?.result).toBe('passed');
    expect(condition(done, 'Finished')).toMatchObject({ status: 'True', reason: 'Passed' });
    // The finished pod is cleaned up; the job's history stays.
    await waitPodGone(pod.metadata.name);
  });

  it('ends incomplete when its pod fails before the runner reported a result', async () => {
    await client.create(JOBS, jobCr('crash', { dependencies: {} }));
    const jobId = (await waitJob('crash', (cr) => cr.status?.jobId !== undefined)).status?.jobId as number;
    const pod = await waitPod(`kubeqa-job-${jobId}`);
    await kubelet.running(NS, pod.metadata.name);
    await kubelet.terminated(NS, pod.metadata.name, 'Failed', 137, 'Error');
    const done = await waitJob('crash', (cr) => cr.status?.phase === 'done');
    expect(done.status).toMatchObject({ result: 'incomplete' });
    expect(done.status?.reason).toMatch(/^runner died: exit code 137/);
    expect(condition(done, 'Finished')?.reason).toBe('Incomplete');
    await waitPodGone(pod.metadata.name);
    // `runner died` is transient: the scheduler cloned the job, and the clone got a mirror CR.
    const mirror = await waitForItem<{
      metadata: { annotations?: Record<string, string> };
      spec: { settings: Record<string, string> };
    }>(
      client,
      JOBS,
      `metadata.namespace=${NS}`,
      (cr) =>
        cr.spec.settings.TEST === 'crash' && cr.metadata.annotations?.['kubeqa.io/job-id'] !== undefined,
    );
    const cloneId = Number(mirror.metadata.annotations?.['kubeqa.io/job-id']);
    const [row] = await database.query<{ clone_id: number }>('select clone_id from jobs where id = $1', [
      jobId,
    ]);
    expect(row?.clone_id).toBe(cloneId);
    await waitJob(`job-${cloneId}`, (cr) => cr.status?.jobId === cloneId);
    // Deleting that CR cancels the clone and frees its slot for the next tests.
    const cloneGone = waitGone(client, JOBS, `job-${cloneId}`);
    await client.delete(`${JOBS}/job-${cloneId}`);
    await cloneGone;
    await waitPodGone(`kubeqa-job-${cloneId}`);
  });

  it('is cancelled when deleted while it runs, and its pod is deleted', async () => {
    await client.create(JOBS, jobCr('doomed'));
    const jobId = (await waitJob('doomed', (cr) => cr.status?.jobId !== undefined)).status?.jobId as number;
    const pod = await waitPod(`kubeqa-job-${jobId}`);
    await kubelet.running(NS, pod.metadata.name);
    const token = await runner.tokenOf(pod, jobId);
    expect(token.length).toBeGreaterThan(20);
    const crGone = waitGone(client, JOBS, 'doomed');
    await client.delete(`${JOBS}/doomed`);
    await waitPodGone(pod.metadata.name);
    await crGone;
    const [row] = await database.query('select state, result from jobs where id = $1', [jobId]);
    expect(row).toEqual({ state: 'cancelled', result: 'user_cancelled' });
  });

  it('runs a directly chained sequence in one pod, in order', async () => {
    await client.create(JOBS, jobCr('seq-a'));
    await client.create(JOBS, jobCr('seq-b', { dependencies: { startDirectlyAfter: ['seq-a'] } }));
    const a = (await waitJob('seq-a', (cr) => cr.status?.jobId !== undefined)).status?.jobId as number;
    const b = (await waitJob('seq-b', (cr) => cr.status?.jobId !== undefined)).status?.jobId as number;
    const pod = await waitPod(`kubeqa-job-${a}`);
    expect(runner.jobsOf(pod)).toEqual([a, b]);
    expect(pod.metadata.annotations?.['kubeqa.io/job-ids']).toBe(`${a},${b}`);
    expect((await testPods()).filter((p) => p.metadata.name === `kubeqa-job-${b}`)).toEqual([]);
    await runPod(pod);
    for (const name of ['seq-a', 'seq-b']) {
      const done = await waitJob(name, (cr) => cr.status?.phase === 'done');
      expect(done.status?.result).toBe('passed');
    }
    await waitPodGone(pod.metadata.name);
  });

  it('creates a parallel cluster’s pods all at once or none: one refused pod takes the others back', async () => {
    // A ResourceQuota admitting one more pod only: the apiserver's own admission refuses the second.
    await client.create(`/api/v1/namespaces/${NS}/resourcequotas`, {
      apiVersion: 'v1',
      kind: 'ResourceQuota',
      metadata: { name: 'one-pod' },
      spec: { hard: { pods: '1' } },
    });
    // No quota controller runs here: give the quota the status it would compute (nothing in use).
    await client.patch(`/api/v1/namespaces/${NS}/resourcequotas/one-pod/status`, {
      status: { hard: { pods: '1' }, used: { pods: '0' } },
    });
    await client.create(JOBS, jobCr('par-a'));
    await client.create(JOBS, jobCr('par-b', { dependencies: { parallelWith: ['par-a'] } }));
    const a = (await waitJob('par-a', (cr) => cr.status?.jobId !== undefined)).status?.jobId as number;
    const b = (await waitJob('par-b', (cr) => cr.status?.jobId !== undefined)).status?.jobId as number;
    // The refusal hands both jobs back with the reason; neither keeps a pod.
    await waitJob('par-a', (cr) => /pod creation failed/.test(cr.status?.reason ?? ''));
    const names = (await testPods()).map((p) => p.metadata.name);
    expect(names).not.toContain(`kubeqa-job-${a}`);
    expect(names).not.toContain(`kubeqa-job-${b}`);
    // Room for both: the next attempt creates both.
    await client.delete(`/api/v1/namespaces/${NS}/resourcequotas/one-pod`);
    const podA = await waitPod(`kubeqa-job-${a}`);
    const podB = await waitPod(`kubeqa-job-${b}`);
    await Promise.all([runPod(podA), runPod(podB)]);
    for (const name of ['par-a', 'par-b'])
      expect((await waitJob(name, (cr) => cr.status?.phase === 'done')).status?.result).toBe('passed');
    await waitPodGone(podA.metadata.name);
    await waitPodGone(podB.metadata.name);
  });

  it('keeps its one pod through an operator restart and a fail-over to a standby', async () => {
    await client.create(JOBS, jobCr('survivor'));
    const jobId = (await waitJob('survivor', (cr) => cr.status?.jobId !== undefined)).status?.jobId as number;
    const pod = await waitPod(`kubeqa-job-${jobId}`);

    // Restart: the leader stops, a new instance takes over and adopts the pod.
    await stopOperator(operators[0] as RunningOperator);
    const restarted = await startOperator('operator-b');
    await restarted.leadership;
    // Fail-over: a standby waits, the leader stops, the standby leads.
    const standby = await startOperator('operator-c');
    expect(standby.isLeader()).toBe(false);
    await stopOperator(restarted);
    await standby.leadership;

    // The new leader adopted the pod (same object) and made no other.
    const after = await client.get<Pod>(`${PODS}/${pod.metadata.name}`);
    expect(after.metadata.uid).toBe(pod.metadata.uid);
    expect(
      (await testPods()).filter((p) =>
        p.metadata.annotations?.['kubeqa.io/job-ids']?.split(',').includes(String(jobId)),
      ),
    ).toHaveLength(1);
    // It works: the pod runs to the end under it.
    await runPod(pod);
    const done = await waitJob('survivor', (cr) => cr.status?.phase === 'done');
    expect(done.status?.result).toBe('passed');
    const [{ n }] = (await database.query<{ n: number }>(
      "select count(*)::int as n from job_state_changes where job_id = $1 and to_state = 'assigned'",
      [jobId],
    )) as [{ n: number }];
    expect(n).toBe(1);
  });
});
