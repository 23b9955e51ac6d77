// The controller manager: one process that, while it holds the leader Lease, runs one
// controller per kind over shared informers, the scheduler and the Kubernetes executor, and
// always serves /healthz, /readyz, /metrics. Losing the lease stops it (the caller exits, and
// Kubernetes restarts the pod), as controller-runtime does: a former leader never keeps
// reconciling.

import { type OpenDatabase, openPostgres } from '../db/connect.js';
import { cancelJobs } from '../db/job-actions.js';
import { subscribeJobEvents } from '../db/job-events.js';
import { resourcesOfJobs } from '../db/job-resources.js';
import { migrateExclusively } from '../db/migrate.js';
import type { Logger } from '../runtime/logger.js';
import type { OperatorConfig } from './config.js';
import { Controller } from './controller/controller.js';
import { Informer, type KubeObject, objectKey } from './controller/informer.js';
import { LeaderElector } from './controller/leader-election.js';
import { KubernetesExecutor } from './executors/kubernetes.js';
import { podJobIds } from './executors/kubernetes-plan.js';
import { PgSlotRegistry } from './executors/slot-registry.js';
import { type HealthServer, startHealthServer } from './health-server.js';
import { KubeClient } from './kube/client.js';
import { KUBEQA_API_VERSION } from './kube/crds.js';
import { EventRecorder } from './kube/events.js';
import { OperatorMetrics } from './metrics.js';
import { LABEL_COMPONENT, LABEL_WORKER } from './pods/build-pod.js';
import { type RunningAssetController, startAssetController } from './reconcilers/asset.js';
import { JobReconciler } from './reconcilers/job.js';
import { JobMirror } from './reconcilers/job-mirror.js';
import { WorkerReconciler } from './reconcilers/worker.js';
import type { SchedulerLoop, StoppedJob } from './scheduler/loop.js';
import { startScheduler as startPgScheduler } from './scheduler/run-scheduler.js';
import type { Assignment } from './scheduler/types.js';

/** What the operator needs of the scheduler (operator/scheduler/run-scheduler.ts provides it). */
export interface SchedulerHandle {
  loop: Pick<SchedulerLoop, 'cancel'>;
  stop(): Promise<void>;
}
export type StartScheduler = (options: {
  database: OpenDatabase;
  log: Logger;
  onAssigned: (assignment: Assignment) => void;
  onStopped: (stop: StoppedJob) => void;
}) => Promise<SchedulerHandle>;

export interface RunningOperator {
  metrics: OperatorMetrics;
  health: HealthServer;
  isLeader(): boolean;
  /** Resolves once this instance leads. */
  leadership: Promise<void>;
  /** Resolves when leadership was lost (never, while stop() is not called and the lease is held). */
  lostLeadership: Promise<void>;
  stop(): Promise<void>;
}

function collection(config: OperatorConfig, apiPrefix: string, plural: string): string {
  return config.watchNamespace
    ? `${apiPrefix}/namespaces/${config.watchNamespace}/${plural}`
    : `${apiPrefix}/${plural}`;
}

export async function runOperator(
  config: OperatorConfig,
  options: {
    kubeconfig?: string;
    log: Logger;
    /** The scheduler (default: the PostgreSQL one); null runs the controllers without one (tests). */
    startScheduler?: StartScheduler | null;
  },
): Promise<RunningOperator> {
  const { log } = options;
  const client = await KubeClient.fromKubeconfig(options.kubeconfig);
  const metrics = new OperatorMetrics();
  const events = new EventRecorder(client, 'kubeqa-operator', {
    log,
    onDropped: (reason) => metrics.eventsDropped.inc({ reason }),
  });
  await migrateExclusively(config.databaseUrl);
  const database = openPostgres({ url: config.databaseUrl, max: 8 });
  let databaseOk = false;
  const checkDatabase = async () => {
    databaseOk = await database
      .query('select 1')
      .then(() => true)
      .catch(() => false);
  };
  await checkDatabase();
  const databaseTimer = setInterval(() => void checkDatabase(), 10_000);
  databaseTimer.unref();

  const workers = new Informer<KubeObject>(
    client,
    collection(config, `/apis/${KUBEQA_API_VERSION}`, 'workers'),
    { log },
  );
  const pods = new Informer<KubeObject>(
    client,
    `${collection(config, '/api/v1', 'pods')}?labelSelector=${encodeURIComponent(`${LABEL_COMPONENT}=test-runner`)}`,
    { log },
  );
  const workerController = new Controller(new WorkerReconciler(client, workers, pods, { events, log }), {
    metrics,
    log,
  });
  workers.on('add', (o) => workerController.enqueue(objectKey(o)));
  workers.on('update', (_old, o) => workerController.enqueue(objectKey(o)));
  const enqueuePool = (pod: KubeObject) => {
    const pool = pod.metadata.labels?.[LABEL_WORKER];
    if (pool) workerController.enqueue(`${pod.metadata.namespace}/${pool}`);
  };
  pods.on('add', enqueuePool);
  pods.on('update', (_old, pod) => enqueuePool(pod));
  pods.on('delete', enqueuePool);

  let assetController: RunningAssetController | undefined;
  // Jobs: ingest, status, finalizer, TTL; the executor makes their pods.
  const jobs = new Informer<KubeObject>(client, collection(config, `/apis/${KUBEQA_API_VERSION}`, 'jobs'), {
    log,
  });
  const jobReconciler = new JobReconciler(client, jobs, database, {
    cancel: (jobId) => cancelJob(jobId),
    // read from the pod informer's cache (only CRs with the finalizer of earlier versions ask)
    hasPod: (jobId) => pods.list().some((pod) => podJobIds(pod).includes(jobId)),
    webUrl: config.jobs.webUrl,
    settleMs: config.jobs.settleMs,
    statusCoalesceMs: config.jobs.statusCoalesceMs,
    wake: (key) => jobController.enqueue(key),
    events,
    log,
  });
  // Many workers: a new CR's reconcile waits on I/O (the ingest, its status write), and ingest
  // requests of concurrent reconciles share one transaction (ingest-batcher.ts).
  const jobController = new Controller(jobReconciler, { metrics, log, workers: 128 });
  const onJobObject = (o: KubeObject) => {
    // a new CR first settles (JobReconciler: its group arrives whole); a known one needs no wait
    if (jobReconciler.isIngested(o)) jobController.enqueue(objectKey(o));
    else jobController.queue.addAfter(objectKey(o), config.jobs.settleMs);
    for (const key of jobReconciler.observe(o)) jobController.enqueue(key);
  };
  jobs.on('add', onJobObject);
  jobs.on('update', (old, o) => {
    // The status is ours (a projection): only changes of spec or metadata need a reconcile.
    const m = (x: KubeObject) =>
      JSON.stringify([
        x.metadata.generation,
        x.metadata.deletionTimestamp,
        x.metadata.finalizers,
        x.metadata.annotations,
      ]);
    if (m(old) === m(o)) return;
    jobController.enqueue(objectKey(o));
    for (const key of jobReconciler.observe(o)) jobController.enqueue(key);
  });
  // A deleted CR's key is reconciled once more: that cancels its job if it has not ended.
  jobs.on('delete', (o) => {
    jobReconciler.forget(o);
    jobController.enqueue(objectKey(o));
  });
  const enqueueJobsOf = (ids: readonly number[]) => {
    const unknown: number[] = [];
    for (const id of ids) {
      const key = jobReconciler.keyOfJob.get(id);
      if (key) jobController.enqueue(key);
      else unknown.push(id);
    }
    if (unknown.length > 0)
      void resourcesOfJobs(database.query, unknown)
        .then((refs) => {
          for (const ref of refs.values()) jobController.enqueue(`${ref.namespace}/${ref.name}`);
        })
        .catch((error: Error) => log.warn({ err: error.message }, 'cannot map jobs to Job CRs'));
  };
  // A CR waiting for its pod to go (the finalizer of earlier versions) is woken when it went.
  pods.on('delete', (pod) => enqueueJobsOf(podJobIds(pod)));

  const executor = new KubernetesExecutor({
    client,
    database,
    pods,
    workers,
    podConfig: config.pods,
    slots: new PgSlotRegistry(database),
    namespace: config.watchNamespace || undefined,
    graceSeconds: config.jobs.podGraceSeconds,
    events,
    log,
  });
  pods.on('add', () => executor.onPodEvent());
  pods.on('update', () => executor.onPodEvent());
  pods.on('delete', () => executor.onPodEvent());
  workers.on('add', () => executor.onPoolsChanged());
  workers.on('update', () => executor.onPoolsChanged());
  workers.on('delete', () => executor.onPoolsChanged());
  const mirror = config.jobs.mirrorNamespace
    ? new JobMirror(client, database, config.jobs.mirrorNamespace, log)
    : undefined;

  let scheduler: SchedulerHandle | undefined;
  const cancelJob = async (jobId: number) => {
    if (scheduler) return scheduler.loop.cancel(jobId);
    // No scheduler in this process (tests of the controllers alone): the API's cancel, with
    // openQA's propagation to related jobs.
    await cancelJobs(database, [jobId]);
  };
  let unsubscribe: (() => Promise<void>) | undefined;

  let leading = false;
  let started = false;
  let resolveLeading!: () => void;
  const leadership = new Promise<void>((resolve) => {
    resolveLeading = resolve;
  });
  let resolveLost!: () => void;
  const lostLeadership = new Promise<void>((resolve) => {
    resolveLost = resolve;
  });
  let starting: Promise<void> | undefined;
  let stopping: Promise<void> | undefined;
  const startControllers = () => {
    if (started) return starting ?? Promise.resolve();
    started = true;
    starting = startAll();
    return starting;
  };
  const startAll = async () => {
    unsubscribe = await subscribeJobEvents(database, (event) => {
      if (event.type === 'job.state') {
        enqueueJobsOf([event.id]);
        executor.onJobState(event.id, event.state);
      } else if (event.type === 'job.created') void mirror?.mirror(event.ids);
    });
    await Promise.all([workers.start(), pods.start(), jobs.start()]);
    workerController.start();
    assetController = await startAssetController({
      client,
      log,
      events,
      metrics,
      namespace: config.watchNamespace,
      database: (sql, params) => database.query(sql, params),
    });
    // Before the workers and the executor: CRs deleted while no operator ran get their jobs
    // cancelled first (so the executor never sees those jobs' pods as runners that died).
    await jobReconciler.preload();
    const deleted = await jobReconciler.sweepDeleted(config.watchNamespace || undefined);
    if (deleted.length > 0)
      log.info({ jobs: deleted.length }, 'cancelling the jobs of Job CRs deleted meanwhile');
    for (const key of await jobReconciler.cancelDeletedNow(deleted)) jobController.enqueue(key);
    jobController.start();
    await executor.start();
    const start = options.startScheduler === undefined ? startPgScheduler : options.startScheduler;
    if (start) {
      scheduler = await start({
        database,
        log,
        onAssigned: (assignment) => executor.onAssigned(assignment),
        onStopped: (stop) => executor.onStopped(stop),
      });
    }
    void mirror?.mirror();
    log.info('controllers started');
  };
  // Idempotent: losing the lease and stop() may both ask; the second waits for the first.
  const stopControllers = () => {
    if (!started) return stopping ?? Promise.resolve();
    started = false;
    stopping = stopAll();
    return stopping;
  };
  const stopAll = async () => {
    await starting?.catch(() => undefined);
    await scheduler?.stop();
    scheduler = undefined;
    await unsubscribe?.();
    await executor.stop();
    await events.flush();
    await assetController?.stop();
    await Promise.all([workerController.stop(), jobController.stop()]);
    await Promise.all([workers.stop(), pods.stop(), jobs.stop()]);
  };

  const health = await startHealthServer({
    port: config.healthPort,
    registry: metrics.registry,
    checks: {
      database: () => ({ ok: databaseOk, detail: databaseOk ? 'reachable' : 'not reachable' }),
      informers: () => {
        const ok = !leading || (workers.hasSynced && pods.hasSynced && jobs.hasSynced);
        return { ok, detail: leading ? (ok ? 'synced' : 'syncing') : 'standby' };
      },
    },
  });

  let elector: LeaderElector | undefined;
  const onLeading = () => {
    leading = true;
    resolveLeading();
    metrics.leader.set({ name: config.leaderElection.name }, 1);
    startControllers().catch((error: Error) =>
      log.error({ err: error.message }, 'controllers failed to start'),
    );
  };
  if (config.leaderElection.enabled) {
    elector = new LeaderElector(client, {
      ...config.leaderElection,
      log,
      onStartedLeading: onLeading,
      onStoppedLeading: () => {
        leading = false;
        metrics.leader.set({ name: config.leaderElection.name }, 0);
        void stopControllers().then(resolveLost);
      },
    });
    metrics.leader.set({ name: config.leaderElection.name }, 0);
    elector.start();
  } else {
    onLeading();
  }

  return {
    metrics,
    health,
    isLeader: () => leading,
    leadership,
    lostLeadership,
    async stop() {
      await elector?.stop(true);
      await stopControllers();
      clearInterval(databaseTimer);
      await health.close();
      await database.close();
    },
  };
}
