// The controller manager: one process that, while it holds the leader Lease, runs one
// controller per kind over shared informers, and always serves /healthz, /readyz, /metrics.
// Losing the lease stops it (the caller exits, and Kubernetes restarts the pod), as
// controller-runtime does: a former leader never keeps reconciling.
import pg from 'pg';
import type { Logger } from '../runtime/logger.js';
import type { OperatorConfig } from './config.js';
import { Controller } from './controller/controller.js';
import { Informer, type KubeObject, objectKey } from './controller/informer.js';
import { LeaderElector } from './controller/leader-election.js';
import { type HealthServer, startHealthServer } from './health-server.js';
import { KubeClient } from './kube/client.js';
import { KUBEQA_API_VERSION } from './kube/crds.js';
import { EventRecorder } from './kube/events.js';
import { OperatorMetrics } from './metrics.js';
import { LABEL_COMPONENT, LABEL_WORKER } from './pods/build-pod.js';
import { type RunningAssetController, startAssetController } from './reconcilers/asset.js';
import { WorkerReconciler } from './reconcilers/worker.js';

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
  options: { kubeconfig?: string; log: Logger },
): Promise<RunningOperator> {
  const { log } = options;
  const client = await KubeClient.fromKubeconfig(options.kubeconfig);
  const metrics = new OperatorMetrics();
  const events = new EventRecorder(client, 'kubeqa-operator', log);
  const database = new pg.Pool({ connectionString: config.databaseUrl, max: 5 });
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
  const startControllers = async () => {
    if (started) return;
    started = true;
    await Promise.all([workers.start(), pods.start()]);
    workerController.start();
    assetController = await startAssetController({
      client,
      log,
      events,
      metrics,
      namespace: config.watchNamespace,
      database: async (sql, params) => (await database.query(sql, params)).rows,
    });
    log.info('controllers started');
  };
  const stopControllers = async () => {
    if (!started) return;
    started = false;
    await workerController.stop();
    await assetController?.stop();
    await Promise.all([workers.stop(), pods.stop()]);
  };

  const health = await startHealthServer({
    port: config.healthPort,
    registry: metrics.registry,
    checks: {
      database: () => ({ ok: databaseOk, detail: databaseOk ? 'reachable' : 'not reachable' }),
      informers: () => {
        const ok = !leading || (workers.hasSynced && pods.hasSynced);
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
      await database.end();
    },
  };
}
