// The create path of test pods and what it must keep, on the real apiserver + etcd and
// PostgreSQL: a pod's token Secret is owned by its Job CR from its creation (no patch) and holds
// the token the runner uses; it goes with the pod when the job ends (and its token is revoked),
// and when the CR is deleted; a job without a Job CR gets a Secret owned by its pod instead; a
// pod of the same name running other jobs is refused (no GET before the create any more: the
// 409s decide); the pod's Created Event appears, and the recorder counts repeats and combines
// similar events; nothing of a token is logged. The node is played by the FAKE kubelet and FAKE
// runner (test/operator/fake-*.ts); no garbage collector runs here, so ownership is checked on
// the objects and the deletions seen are the operator's own.

import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import type { FastifyInstance } from 'fastify';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type OpenDatabase, openPostgres } from '../../db/connect.js';
import { insertJobs, jobColumns } from '../../db/jobs.js';
import { migrate } from '../../db/migrate.js';
import { operatorConfigFromEnv } from '../../operator/config.js';
import { KubeApiError, KubeClient } from '../../operator/kube/client.js';
import { installCrds, KUBEQA_API_VERSION } from '../../operator/kube/crds.js';
import { EventAggregator, EventRecorder } from '../../operator/kube/events.js';
import { type RunningOperator, runOperator } from '../../operator/manager.js';
import type { Logger } from '../../runtime/logger.js';
import { buildApp } from '../../webui/app.js';
import { createDatabase, testEnv } from '../env/index.js';
import { ensureNamespace } from '../helpers/namespace.js';
import { waitGone } from '../helpers/wait-gone.js';
import { FakeKubelet } from './fake-kubelet.js';
import { FakeRunner, type PodLike } from './fake-runner.js';
import { waitForItem, waitForObject } from './wait.js';

const NS = 'token-secrets-tests';
const JOBS = `/apis/${KUBEQA_API_VERSION}/namespaces/${NS}/jobs`;
const PODS = `/api/v1/namespaces/${NS}/pods`;
const SECRETS = `/api/v1/namespaces/${NS}/secrets`;
const EVENTS = `/api/v1/namespaces/${NS}/events`;
const WORKERS = `/apis/${KUBEQA_API_VERSION}/namespaces/${NS}/workers`;

interface JobCr {
  metadata: { name: string; uid: string };
  status?: { phase?: string; result?: string; reason?: string; jobId?: number };
}
interface Pod extends PodLike {
  metadata: PodLike['metadata'] & { namespace: string; uid: string };
}
interface Secret {
  metadata: {
    name: string;
    annotations?: Record<string, string>;
    ownerReferences?: Array<{ kind: string; name: string; uid: string; controller?: boolean }>;
  };
  data?: Record<string, string>;
}
interface CoreEvent {
  reason: string;
  message: string;
  count?: number;
  type: string;
}

let client: KubeClient;
let database: OpenDatabase;
let api: FastifyInstance;
let apiUrl: string;
let kubelet: FakeKubelet;
let runner: FakeRunner;
let operator: RunningOperator;
/** Everything the operator logged (debug level, without the logger's redaction). */
const logged: string[] = [];
/** Every token the tests read from a Secret. */
const tokens: string[] = [];

function jobCr(name: string, workerClass: string) {
  return {
    apiVersion: KUBEQA_API_VERSION,
    kind: 'Job',
    metadata: { name },
    spec: { settings: { DISTRI: 'busybox', ARCH: 'x86_64', TEST: name, WORKER_CLASS: workerClass } },
  };
}

function pool(name: string, workerClass: string) {
  return {
    apiVersion: KUBEQA_API_VERSION,
    kind: 'Worker',
    metadata: { name },
    spec: { workerClasses: [workerClass], arch: 'x86_64', maxJobs: 2 },
  };
}

const waitJob = (name: string, predicate: (cr: JobCr) => boolean) =>
  waitForObject<JobCr>(client, JOBS, name, predicate);
const waitPod = (name: string) => waitForObject<Pod>(client, PODS, name, () => true);
const getSecret = (name: string) => client.get<Secret>(`${SECRETS}/${name}`);

async function tokenOf(pod: Pod, jobId: number): Promise<string> {
  const token = await runner.tokenOf(pod, jobId);
  tokens.push(token);
  return token;
}

/** A runner API call with the token: its HTTP status. */
async function statusWith(jobId: number, token: string): Promise<number> {
  const res = await fetch(`${apiUrl}/api/v1/jobs/${jobId}/status`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'x-kubeqa-job-token': token },
    body: JSON.stringify({ state: 'running', modules: [] }),
  });
  await res.text();
  return res.status;
}

/** The node runs the pod's job to `passed`. */
async function runPod(pod: Pod): Promise<void> {
  await kubelet.running(NS, pod.metadata.name);
  for (const id of runner.jobsOf(pod)) await runner.run(pod, id, 'passed');
  await kubelet.terminated(NS, pod.metadata.name, 'Succeeded', 0).catch((error: unknown) => {
    if (!(error instanceof KubeApiError && error.statusCode === 404)) throw error;
  });
}

beforeAll(async () => {
  const kube = await testEnv.kube();
  client = await KubeClient.fromKubeconfig(kube.kubeconfig);
  await installCrds(client);
  await ensureNamespace(client, NS);
  const databaseUrl = await createDatabase(await testEnv.postgres(), 'token_secrets');
  database = openPostgres({ url: databaseUrl });
  await migrate(database);
  api = await buildApp({ database, blobDir: mkdtempSync(join(tmpdir(), 'kubeqa-token-secrets-')) });
  apiUrl = await api.listen({ host: '127.0.0.1', port: 0 });
  kubelet = new FakeKubelet(client);
  runner = new FakeRunner(client, apiUrl);
  await client.create(WORKERS, pool('main', 'ts_main'));
  const config = operatorConfigFromEnv({
    KUBEQA_DATABASE_URL: databaseUrl,
    KUBEQA_API_URL: 'http://kubeqa-webui.kubeqa.svc:9526',
    KUBEQA_RUNNER_IMAGE: 'ghcr.io/kubeqa/worker:test',
    KUBEQA_WATCH_NAMESPACE: NS,
    KUBEQA_LEADER_ELECTION: 'false',
    KUBEQA_HEALTH_PORT: '0',
    KUBEQA_INGEST_SETTLE_MS: '50',
    // jobs inserted into the database get no Job CR: the fallback Secret owned by its pod
    KUBEQA_MIRROR_API_JOBS: 'false',
    POD_NAMESPACE: NS,
    POD_NAME: 'token-secrets-operator',
  });
  const sink = new Writable({
    write(chunk, _encoding, done) {
      logged.push(String(chunk));
      done();
    },
  });
  const log = pino({ name: 'token-secrets', level: 'debug' }, sink) as unknown as Logger;
  operator = await runOperator(config, { kubeconfig: kube.kubeconfig, log });
  await operator.leadership;
});

afterAll(async () => {
  await operator?.stop();
  await api?.close();
  await database?.close();
});

describe('the token Secret of a test pod', () => {
  it('is owned by the Job CR from its creation, holds the token, and goes with the pod when the job ends (token revoked)', async () => {
    await client.create(JOBS, jobCr('owned', 'ts_main'));
    const cr = await waitJob('owned', (c) => c.status?.jobId !== undefined);
    const jobId = cr.status?.jobId as number;
    const pod = await waitPod(`kubeqa-job-${jobId}`);
    const secret = await getSecret(`kubeqa-job-${jobId}-token`);
    // owned by the Job CR and by nothing else: no patch to the pod followed
    expect(secret.metadata.ownerReferences).toEqual([
      expect.objectContaining({ kind: 'Job', name: 'owned', uid: cr.metadata.uid, controller: true }),
    ]);
    expect(secret.metadata.annotations?.['kubeqa.io/job-ids']).toBe(String(jobId));
    expect(JSON.stringify(pod.spec)).not.toContain(
      Buffer.from(secret.data?.token ?? '', 'base64').toString(),
    );
    const token = await tokenOf(pod, jobId);
    expect(token.length).toBeGreaterThan(20);

    await runPod(pod); // the runner API accepted the Secret's token all along
    expect((await waitJob('owned', (c) => c.status?.phase === 'done')).status?.result).toBe('passed');
    await waitGone(client, PODS, pod.metadata.name);
    await waitGone(client, SECRETS, `kubeqa-job-${jobId}-token`);
    // the job has ended and its token no longer opens the runner API
    expect(await statusWith(jobId, token)).toBe(403);
  });

  it('goes when its Job CR is deleted', async () => {
    await client.create(JOBS, jobCr('deleted', 'ts_main'));
    const jobId = (await waitJob('deleted', (c) => c.status?.jobId !== undefined)).status?.jobId as number;
    const pod = await waitPod(`kubeqa-job-${jobId}`);
    await kubelet.running(NS, pod.metadata.name);
    const token = await tokenOf(pod, jobId);
    expect(await statusWith(jobId, token)).toBe(200);
    await client.delete(`${JOBS}/deleted`);
    await waitGone(client, PODS, pod.metadata.name);
    await waitGone(client, SECRETS, `kubeqa-job-${jobId}-token`);
    const [row] = await database.query('select state from jobs where id = $1', [jobId]);
    expect(row).toEqual({ state: 'cancelled' });
    expect(await statusWith(jobId, token)).toBe(403);
  });

  it('of a job without a Job CR is owned by its pod, and goes with it', async () => {
    const settings = { DISTRI: ['busybox'], TEST: ['no_cr'], ARCH: ['x86_64'], WORKER_CLASS: ['ts_main'] };
    const [jobId] = (await database.transaction((q) =>
      insertJobs(q, [
        {
          ...jobColumns(settings),
          groupId: null,
          priority: 50,
          scheduledProductId: null,
          settings,
          assets: [],
        },
      ]),
    )) as [number];
    const pod = await waitPod(`kubeqa-job-${jobId}`);
    expect(
      (pod.metadata as { ownerReferences?: unknown[] }).ownerReferences ?? [],
      'a job without a CR has an unowned pod',
    ).toEqual([]);
    const secret = await waitForObject<Secret>(
      client,
      SECRETS,
      `kubeqa-job-${jobId}-token`,
      (s) => s.metadata.ownerReferences?.some((o) => o.kind === 'Pod') ?? false,
    );
    expect(secret.metadata.ownerReferences).toEqual([
      expect.objectContaining({ kind: 'Pod', name: pod.metadata.name, uid: pod.metadata.uid }),
    ]);
    await tokenOf(pod, jobId);
    await runPod(pod);
    await waitGone(client, PODS, pod.metadata.name);
    await waitGone(client, SECRETS, `kubeqa-job-${jobId}-token`);
  });
});

describe('a pod of the same name that runs other jobs', () => {
  it('is refused and left alone; the job gets its pod once the name is free', async () => {
    // The job waits for a pool that does not exist yet, so the foreign pod is there first.
    await client.create(JOBS, jobCr('squatted', 'ts_late'));
    const jobId = (await waitJob('squatted', (c) => c.status?.jobId !== undefined)).status?.jobId as number;
    // Not labelled as a test pod, so the operator's pod informer does not see it: only the
    // apiserver's 409 on the create reveals it.
    const foreign = await client.create<Pod>(PODS, {
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { name: `kubeqa-job-${jobId}`, annotations: { 'kubeqa.io/job-ids': '999999' } },
      spec: { containers: [{ name: 'other', image: 'busybox' }] },
    });
    await client.create(WORKERS, pool('late', 'ts_late'));
    const refused = await waitJob('squatted', (c) => /pod creation failed/.test(c.status?.reason ?? ''));
    expect(refused.status?.reason).toContain(
      `pod ${NS}/kubeqa-job-${jobId} exists and runs other jobs (999999)`,
    );
    const still = await client.get<Pod>(`${PODS}/kubeqa-job-${jobId}`);
    expect(still.metadata.uid).toBe(foreign.metadata.uid);
    expect(still.metadata.annotations?.['kubeqa.io/job-ids']).toBe('999999');

    // The name is freed: the next attempt (after its back-off) makes the job's own pod, with a
    // Secret of fresh tokens.
    await client.delete(`${PODS}/kubeqa-job-${jobId}`);
    const own = await waitForObject<Pod>(
      client,
      PODS,
      `kubeqa-job-${jobId}`,
      (p) => p.metadata.annotations?.['kubeqa.io/job-ids'] === String(jobId),
    );
    expect(own.metadata.uid).not.toBe(foreign.metadata.uid);
    await tokenOf(own, jobId);
    await runPod(own);
    expect((await waitJob('squatted', (c) => c.status?.phase === 'done')).status?.result).toBe('passed');
    await waitGone(client, SECRETS, `kubeqa-job-${jobId}-token`);
  });
});

describe('Events', () => {
  it('a created test pod has its Created Event', async () => {
    await client.create(JOBS, jobCr('evented', 'ts_main'));
    const jobId = (await waitJob('evented', (c) => c.status?.jobId !== undefined)).status?.jobId as number;
    const pod = await waitPod(`kubeqa-job-${jobId}`);
    const event = await waitForItem<CoreEvent>(
      client,
      EVENTS,
      `involvedObject.name=${pod.metadata.name},reason=Created`,
      () => true,
    );
    expect(event.type).toBe('Normal');
    expect(event.message).toMatch(new RegExp(`^test pod for job ${jobId} on slot ${NS}/main/[01]$`));
    await tokenOf(pod, jobId);
    await runPod(pod);
    await waitGone(client, PODS, pod.metadata.name);
  });

  it('repeats are one Event with a count, similar ones are combined, and a full queue drops and counts', async () => {
    const dropped: string[] = [];
    const recorder = new EventRecorder(client, 'token-secrets-test', {
      queueLimit: 3,
      similarLimit: 3,
      onDropped: (reason) => dropped.push(reason),
    });
    const target = (name: string) => ({
      apiVersion: 'v1',
      kind: 'ConfigMap',
      metadata: { name, namespace: NS, uid: `uid-${name}` },
    });
    for (let i = 0; i < 5; i++)
      void recorder.record(target('repeated'), 'Normal', 'Same', 'the same message');
    await recorder.flush();
    const repeated = (
      await client.get<{ items: CoreEvent[] }>(
        `${EVENTS}?fieldSelector=${encodeURIComponent('involvedObject.name=repeated')}`,
      )
    ).items;
    expect(repeated).toHaveLength(1);
    expect(repeated[0]).toMatchObject({ reason: 'Same', message: 'the same message', count: 5 });

    // 3 distinct messages are kept apart; from the 4th on they are combined into one event
    for (let i = 0; i < 6; i++) {
      void recorder.record(target('similar'), 'Warning', 'Flaky', `attempt ${i}`);
      await recorder.flush();
    }
    const similar = (
      await client.get<{ items: CoreEvent[] }>(
        `${EVENTS}?fieldSelector=${encodeURIComponent('involvedObject.name=similar')}`,
      )
    ).items;
    expect(similar.map((e) => e.message).sort()).toEqual([
      '(combined from similar events): attempt 5',
      'attempt 0',
      'attempt 1',
      'attempt 2',
    ]);
    expect(similar.find((e) => e.message.startsWith('(combined'))?.count).toBe(3);

    // one being sent, three waiting: the fifth and sixth distinct events are dropped and counted
    for (let i = 0; i < 6; i++) void recorder.record(target(`burst-${i}`), 'Normal', 'Burst', 'one of many');
    expect(dropped).toEqual(['Burst', 'Burst']);
    await recorder.flush();
    const burst = (
      await client.get<{ items: Array<CoreEvent & { involvedObject: { name: string } }> }>(EVENTS)
    ).items
      .filter((e) => e.reason === 'Burst')
      .map((e) => e.involvedObject.name)
      .sort();
    expect(burst).toEqual(['burst-0', 'burst-1', 'burst-2', 'burst-3']);
  });

  it('the aggregator counts the same event and combines similar ones within the window only', () => {
    const aggregator = new EventAggregator(2, 1_000);
    expect(aggregator.decide('Pod/a', 'Normal', 'R', 'm1', 0)).toMatchObject({
      kind: 'create',
      message: 'm1',
    });
    expect(aggregator.decide('Pod/a', 'Normal', 'R', 'm1', 10)).toMatchObject({
      kind: 'count',
      message: 'm1',
    });
    expect(aggregator.decide('Pod/a', 'Normal', 'R', 'm2', 20)).toMatchObject({
      kind: 'create',
      message: 'm2',
    });
    const combined = aggregator.decide('Pod/a', 'Normal', 'R', 'm3', 30);
    expect(combined).toMatchObject({ kind: 'create', message: '(combined from similar events): m3' });
    expect(aggregator.decide('Pod/a', 'Normal', 'R', 'm4', 40)).toMatchObject({
      kind: 'count',
      key: combined.key,
    });
    expect(aggregator.count(combined.key)).toBe(2);
    // another object, or the same one after the window, starts afresh
    expect(aggregator.decide('Pod/b', 'Normal', 'R', 'm5', 50)).toMatchObject({
      kind: 'create',
      message: 'm5',
    });
    expect(aggregator.decide('Pod/a', 'Normal', 'R', 'm6', 2_000)).toMatchObject({
      kind: 'create',
      message: 'm6',
    });
  });
});

describe('logs', () => {
  it('hold nothing of any token', () => {
    expect(tokens.length).toBeGreaterThanOrEqual(5);
    expect(logged.length).toBeGreaterThan(10);
    const text = logged.join('');
    for (const token of tokens) {
      expect(text).not.toContain(token);
      expect(text).not.toContain(Buffer.from(token).toString('base64'));
    }
  });
});
