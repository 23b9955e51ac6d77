// Job CRs against the real apiserver and PostgreSQL, through the whole operator (no scheduler in
// this file: job states are written as a runner would, through changeJobStates; the scheduler
// and pods are in operator-jobs.test.ts): ingest with its mapping and without a finalizer, status
// projected from job events, TTL deletion, cancel by delete (also of a CR deleted while no operator
// ran, and of a CR still carrying the finalizer of earlier versions), suspend, dependencies by
// name, invalid settings, and mirror CRs of API jobs without a loop.

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type OpenDatabase, openPostgres } from '../../db/connect.js';
import { subscribeJobEvents } from '../../db/job-events.js';
import { changeJobStates, insertJobs, jobColumns } from '../../db/jobs.js';
import { operatorConfigFromEnv } from '../../operator/config.js';
import { KubeClient } from '../../operator/kube/client.js';
import { installCrds, KUBEQA_API_VERSION } from '../../operator/kube/crds.js';
import { type RunningOperator, runOperator } from '../../operator/manager.js';
import { createLogger } from '../../runtime/logger.js';
import { createDatabase, testEnv } from '../env/index.js';
import { ensureNamespace } from '../helpers/namespace.js';
import { waitGone } from '../helpers/wait-gone.js';
import { waitForItem, waitForObject } from './wait.js';

const NS = 'job-controller-tests';
const JOBS = `/apis/${KUBEQA_API_VERSION}/namespaces/${NS}/jobs`;

interface Condition {
  type: string;
  status: string;
  reason: string;
  message: string;
}
interface JobCr {
  metadata: {
    name: string;
    uid: string;
    finalizers?: string[];
    labels?: Record<string, string>;
    annotations?: Record<string, string>;
  };
  spec: Record<string, unknown>;
  status?: {
    phase?: string;
    result?: string;
    reason?: string;
    jobId?: number;
    url?: string;
    observedGeneration?: number;
    conditions?: Condition[];
  };
}

let client: KubeClient;
let database: OpenDatabase;
let operator: RunningOperator;
let startOperator: () => Promise<RunningOperator>;

const condition = (cr: JobCr, type: string) => cr.status?.conditions?.find((c) => c.type === type);

function jobCr(name: string, spec: Record<string, unknown>, settings: Record<string, string> = {}) {
  return {
    apiVersion: KUBEQA_API_VERSION,
    kind: 'Job',
    metadata: { name },
    spec: {
      settings: { DISTRI: 'busybox', ARCH: 'x86_64', TEST: name, WORKER_CLASS: 'qemu_x86_64', ...settings },
      ...spec,
    },
  };
}

const waitJob = (name: string, predicate: (cr: JobCr) => boolean) =>
  waitForObject<JobCr>(client, JOBS, name, predicate);

/** Waits (on job events, with a deadline) until the job is in `state`. */
async function waitJobState(jobId: number, state: string, timeoutMs = 60_000): Promise<void> {
  let reached!: () => void;
  const done = new Promise<void>((resolve) => {
    reached = resolve;
  });
  const unsubscribe = await subscribeJobEvents(database, (event) => {
    if (event.type === 'job.state' && event.id === jobId && event.state === state) reached();
  });
  let timer: NodeJS.Timeout | undefined;
  try {
    const [row] = await database.query<{ state: string }>('select state from jobs where id = $1', [jobId]);
    if (row?.state === state) return;
    await Promise.race([
      done,
      new Promise((_, reject) => {
        timer = setTimeout(
          () => reject(new Error(`job ${jobId} did not become ${state} within ${timeoutMs} ms`)),
          timeoutMs,
        );
      }),
    ]);
  } finally {
    clearTimeout(timer);
    await unsubscribe();
  }
}

beforeAll(async () => {
  const kube = await testEnv.kube();
  client = await KubeClient.fromKubeconfig(kube.kubeconfig);
  await installCrds(client);
  await ensureNamespace(client, NS);
  const url = await createDatabase(await testEnv.postgres(), 'job_controller');
  const config = operatorConfigFromEnv({
    KUBEQA_DATABASE_URL: url,
    KUBEQA_API_URL: 'http://kubeqa-webui.kubeqa.svc:9526',
    KUBEQA_WEB_URL: 'https://kubeqa.example.org',
    KUBEQA_RUNNER_IMAGE: 'ghcr.io/kubeqa/worker:test',
    KUBEQA_WATCH_NAMESPACE: NS,
    KUBEQA_HEALTH_PORT: '0',
    KUBEQA_LEADER_ELECTION: 'false',
    KUBEQA_INGEST_SETTLE_MS: '50',
    POD_NAMESPACE: NS,
  });
  startOperator = async () => {
    const started = await runOperator(config, {
      kubeconfig: kube.kubeconfig,
      log: createLogger('jobs', 'warn'),
      startScheduler: null,
    });
    await started.leadership;
    return started;
  };
  operator = await startOperator();
  database = openPostgres({ url });
});

afterAll(async () => {
  await operator?.stop();
  await database?.close();
});

describe('a Job CR', () => {
  it('is ingested once without a finalizer, and its status follows the job through job events', async () => {
    await client.create(JOBS, jobCr('smoke', { priority: 40 }, { BUILD: '7', MACHINE: '64bit' }));
    const queued = await waitJob('smoke', (cr) => cr.status?.jobId !== undefined);
    expect(queued.metadata.finalizers).toBeUndefined();
    expect(queued.status).toMatchObject({ phase: 'scheduled', result: 'none', observedGeneration: 1 });
    expect(queued.status?.url).toBe(`https://kubeqa.example.org/tests/${queued.status?.jobId}`);
    expect(condition(queued, 'Scheduled')).toMatchObject({ status: 'False', reason: 'Waiting' });
    const jobId = queued.status?.jobId as number;
    const [row] = await database.query<{ test: string; priority: number; build: string; settings: object }>(
      'select test, priority, build, settings from jobs where id = $1',
      [jobId],
    );
    expect(row).toMatchObject({ test: 'smoke', priority: 40, build: '7' });
    expect(row?.settings).toMatchObject({ TEST: 'smoke', WORKER_CLASS: 'qemu_x86_64', MACHINE: '64bit' });
    const [mapping] = await database.query(
      'select namespace, name, uid, origin from job_resources where job_id = $1',
      [jobId],
    );
    expect(mapping).toEqual({ namespace: NS, name: 'smoke', uid: queued.metadata.uid, origin: 'cr' });

    // A runner's reports move the job; the CR follows without polling.
    await database.transaction((q) => changeJobStates(q, [{ id: jobId, state: 'assigned' }]));
    await database.transaction((q) => changeJobStates(q, [{ id: jobId, state: 'setup' }]));
    await database.transaction((q) => changeJobStates(q, [{ id: jobId, state: 'running' }]));
    const running = await waitJob('smoke', (cr) => cr.status?.phase === 'running');
    expect(condition(running, 'Scheduled')).toMatchObject({ status: 'True', reason: 'Assigned' });
    expect(condition(running, 'Running')).toMatchObject({ status: 'True', reason: 'Running' });
    await database.transaction((q) =>
      changeJobStates(q, [{ id: jobId, state: 'done', result: 'failed', reason: 'failed: boot' }]),
    );
    const done = await waitJob('smoke', (cr) => cr.status?.phase === 'done');
    expect(done.status).toMatchObject({ result: 'failed', reason: 'failed: boot' });
    expect(condition(done, 'Finished')).toMatchObject({ status: 'True', reason: 'Failed' });
    expect(condition(done, 'Running')).toMatchObject({ status: 'False', reason: 'Completed' });
    const event = await waitForItem<{ type: string; message: string }>(
      client,
      `/api/v1/namespaces/${NS}/events`,
      'involvedObject.name=smoke,reason=Failed',
      () => true,
    );
    expect(event.type).toBe('Warning');
    // Still one job for this CR, whatever the number of reconciles.
    const [{ n }] = (await database.query<{ n: number }>(
      "select count(*)::int as n from job_resources where name = 'smoke'",
    )) as [{ n: number }];
    expect(n).toBe(1);
  });

  it('is deleted after ttlSecondsAfterFinished; the job stays in the database', async () => {
    await client.create(JOBS, jobCr('short-lived', { ttlSecondsAfterFinished: 1 }));
    const queued = await waitJob('short-lived', (cr) => cr.status?.jobId !== undefined);
    const jobId = queued.status?.jobId as number;
    const gone = waitGone(client, JOBS, 'short-lived');
    await database.transaction((q) => changeJobStates(q, [{ id: jobId, state: 'assigned' }]));
    await database.transaction((q) => changeJobStates(q, [{ id: jobId, state: 'setup' }]));
    await database.transaction((q) => changeJobStates(q, [{ id: jobId, state: 'running' }]));
    await database.transaction((q) => changeJobStates(q, [{ id: jobId, state: 'done', result: 'passed' }]));
    await gone;
    const [row] = await database.query('select state, result from jobs where id = $1', [jobId]);
    expect(row).toEqual({ state: 'done', result: 'passed' });
  });

  it('cancels its job when deleted; the CR goes at once', async () => {
    await client.create(JOBS, jobCr('to-cancel', {}));
    const queued = await waitJob('to-cancel', (cr) => cr.status?.jobId !== undefined);
    const gone = waitGone(client, JOBS, 'to-cancel');
    await client.delete(`${JOBS}/to-cancel`);
    await gone;
    await waitJobState(queued.status?.jobId as number, 'cancelled');
    const [row] = await database.query('select state, result from jobs where id = $1', [
      queued.status?.jobId,
    ]);
    expect(row).toEqual({ state: 'cancelled', result: 'user_cancelled' });
  });

  it('cancels its job when deleted while no operator runs, once one starts again', async () => {
    await client.create(JOBS, jobCr('deleted-meanwhile', {}));
    await client.create(JOBS, jobCr('kept-meanwhile', {}));
    const gone = (await waitJob('deleted-meanwhile', (cr) => cr.status?.jobId !== undefined)).status
      ?.jobId as number;
    const kept = (await waitJob('kept-meanwhile', (cr) => cr.status?.jobId !== undefined)).status
      ?.jobId as number;
    await operator.stop();
    const deleted = waitGone(client, JOBS, 'deleted-meanwhile');
    await client.delete(`${JOBS}/deleted-meanwhile`);
    await deleted; // no finalizer: the CR goes at once, with no operator running
    const stateOf = async (id: number) =>
      (
        await database.query<{ state: string; result: string }>(
          'select state, result from jobs where id = $1',
          [id],
        )
      )[0];
    expect(await stateOf(gone)).toEqual({ state: 'scheduled', result: 'none' });

    operator = await startOperator();
    await waitJobState(gone, 'cancelled');
    expect(await stateOf(gone)).toEqual({ state: 'cancelled', result: 'user_cancelled' });
    // The Job that still exists keeps its job, ingested once.
    expect(await stateOf(kept)).toEqual({ state: 'scheduled', result: 'none' });
    const [{ n }] = (await database.query<{ n: number }>(
      "select count(*)::int as n from job_resources where name = 'kept-meanwhile'",
    )) as [{ n: number }];
    expect(n).toBe(1);
  });

  it('still carrying the finalizer of earlier versions, cancels its job when deleted and then goes', async () => {
    const body = jobCr('legacy', {});
    await client.create(JOBS, { ...body, metadata: { ...body.metadata, finalizers: ['kubeqa.io/job'] } });
    const queued = await waitJob('legacy', (cr) => cr.status?.jobId !== undefined);
    expect(queued.metadata.finalizers).toEqual(['kubeqa.io/job']);
    const gone = waitGone(client, JOBS, 'legacy');
    await client.delete(`${JOBS}/legacy`);
    await gone;
    const [row] = await database.query('select state, result from jobs where id = $1', [
      queued.status?.jobId,
    ]);
    expect(row).toEqual({ state: 'cancelled', result: 'user_cancelled' });
  });

  it('is not queued while suspended, and is once resumed', async () => {
    await client.create(JOBS, jobCr('held', { suspend: true }));
    const held = await waitJob('held', (cr) => condition(cr, 'Scheduled')?.reason === 'Suspended');
    expect(held.status?.jobId).toBeUndefined();
    const [{ n }] = (await database.query<{ n: number }>(
      "select count(*)::int as n from jobs where test = 'held'",
    )) as [{ n: number }];
    expect(n).toBe(0);
    await client.patch(`${JOBS}/held`, { spec: { suspend: false } });
    const resumed = await waitJob('held', (cr) => cr.status?.jobId !== undefined);
    expect(resumed.status?.observedGeneration).toBe(2);
  });

  it('turns dependencies by name into job dependencies, a directly chained group in one go', async () => {
    await client.create(JOBS, jobCr('install', {}));
    await client.create(JOBS, jobCr('first-boot', { dependencies: { startDirectlyAfter: ['install'] } }));
    await client.create(JOBS, jobCr('upgrade', { dependencies: { startAfter: ['first-boot'] } }));
    const ids: Record<string, number> = {};
    for (const name of ['install', 'first-boot', 'upgrade'])
      ids[name] = (await waitJob(name, (cr) => cr.status?.jobId !== undefined)).status?.jobId as number;
    const edges = await database.query<{ child: number; parent: number; dependency: string }>(
      `select child_job_id as child, parent_job_id as parent, dependency from job_dependencies
        where child_job_id = any($1::bigint[]) order by dependency`,
      [Object.values(ids)],
    );
    expect(edges).toEqual([
      { child: ids.upgrade, parent: ids['first-boot'], dependency: 'chained' },
      { child: ids['first-boot'], parent: ids.install, dependency: 'directly_chained' },
    ]);
    // install and first-boot were created in the same insert (consecutive ids, one transaction).
    expect(Math.abs((ids['first-boot'] as number) - (ids.install as number))).toBe(1);
  });

  it('waits for a parent that does not exist yet, naming it', async () => {
    await client.create(JOBS, jobCr('orphan', { dependencies: { startAfter: ['not-yet'] } }));
    const waiting = await waitJob(
      'orphan',
      (cr) => condition(cr, 'Scheduled')?.reason === 'WaitingForDependency',
    );
    expect(waiting.status?.reason).toContain('not-yet');
    await client.create(JOBS, jobCr('not-yet', {}));
    await waitJob('orphan', (cr) => cr.status?.jobId !== undefined);
  });

  it('with settings the scheduler cannot use is refused with the reason, as a condition and a Warning', async () => {
    await client.create(JOBS, jobCr('bad-retry', {}, { RETRY: 'often' }));
    const bad = await waitJob('bad-retry', (cr) => condition(cr, 'Scheduled')?.reason === 'InvalidSpec');
    expect(bad.status?.reason).toMatch(/RETRY/);
    expect(bad.status?.jobId).toBeUndefined();
    const event = await waitForItem<{ type: string; message: string }>(
      client,
      `/api/v1/namespaces/${NS}/events`,
      'involvedObject.name=bad-retry,reason=InvalidSpec',
      () => true,
    );
    expect(event.type).toBe('Warning');
  });
});

describe('a job posted through the API', () => {
  it('gets a mirror CR that is adopted, not ingested again', async () => {
    const settings = {
      DISTRI: ['debian'],
      TEST: ['api_test'],
      ARCH: ['x86_64'],
      WORKER_CLASS: ['qemu_x86_64'],
    };
    const [jobId] = await database.transaction((q) =>
      insertJobs(q, [
        {
          ...jobColumns(settings),
          groupId: null,
          priority: 30,
          scheduledProductId: null,
          settings,
          assets: [],
        },
      ]),
    );
    const mirror = await waitJob(`job-${jobId}`, (cr) => cr.status?.jobId === jobId);
    expect(mirror.metadata.labels?.['kubeqa.io/origin']).toBe('api');
    expect(mirror.metadata.annotations?.['kubeqa.io/job-id']).toBe(String(jobId));
    expect(mirror.spec).toMatchObject({ priority: 30, settings: { TEST: 'api_test', DISTRI: 'debian' } });
    const rows = await database.query<{ id: number }>("select id from jobs where test = 'api_test'");
    expect(rows.map((r) => r.id)).toEqual([jobId]);
    const [mapping] = await database.query('select origin, uid from job_resources where job_id = $1', [
      jobId,
    ]);
    expect(mapping).toEqual({ origin: 'api', uid: mirror.metadata.uid });
    // A CR-ingested job is never mirrored: no job-<id> CR for the smoke job.
    const smoke = await client.get<JobCr>(`${JOBS}/smoke`);
    await expect(client.get(`${JOBS}/job-${smoke.status?.jobId}`)).rejects.toMatchObject({ statusCode: 404 });
  });
});
