// The Worker reconciler: keeps each pool's status (slots in use, queued demand, Ready) current
// and tells the cluster admin when a pool is paused.
import type { Logger } from '../../runtime/logger.js';
import { findCondition } from '../controller/conditions.js';
import type { ReconcileResult, Reconciler } from '../controller/controller.js';
import type { Informer, KubeObject } from '../controller/informer.js';
import { KubeApiError, type KubeClient } from '../kube/client.js';
import { KUBEQA_API_VERSION } from '../kube/crds.js';
import type { EventRecorder } from '../kube/events.js';
import { LABEL_WORKER } from '../pods/build-pod.js';
import { type PodPhaseView, statusChanged, type WorkerObject, workerStatus } from './worker-status.js';

/** How many jobs wait for a pool's classes (the scheduler's view); 0 until one is wired in. */
export type DemandSource = (worker: WorkerObject) => Promise<number> | number;

export class WorkerReconciler implements Reconciler {
  readonly name = 'worker';

  constructor(
    private readonly client: KubeClient,
    private readonly workers: Informer<KubeObject>,
    private readonly pods: Informer<KubeObject>,
    private readonly options: {
      events?: EventRecorder;
      demand?: DemandSource;
      log?: Logger;
      now?: () => Date;
    } = {},
  ) {}

  async reconcile(key: string): Promise<ReconcileResult | undefined> {
    const worker = this.workers.get(key) as unknown as WorkerObject | undefined;
    if (!worker) return undefined;
    const namespace = worker.metadata.namespace ?? 'default';
    const pods = this.pods
      .list()
      .filter(
        (pod) =>
          pod.metadata.namespace === namespace &&
          pod.metadata.labels?.[LABEL_WORKER] === worker.metadata.name,
      );
    const queued = (await this.options.demand?.(worker)) ?? 0;
    const next = workerStatus(
      worker,
      pods as unknown as PodPhaseView[],
      queued,
      this.options.now?.() ?? new Date(),
    );
    if (!statusChanged(worker.status, next)) return undefined;
    try {
      await this.client.patch(
        `/apis/${KUBEQA_API_VERSION}/namespaces/${namespace}/workers/${worker.metadata.name}/status`,
        { status: next },
        'merge',
      );
    } catch (error) {
      if (error instanceof KubeApiError && error.statusCode === 404) return undefined;
      throw error;
    }
    const before = findCondition(worker.status?.conditions, 'Ready');
    const after = findCondition(next.conditions, 'Ready');
    if (after && before?.reason !== after.reason) {
      await this.options.events?.record(
        { apiVersion: KUBEQA_API_VERSION, kind: 'Worker', metadata: worker.metadata },
        after.status === 'True' ? 'Normal' : 'Warning',
        after.reason,
        after.message,
      );
    }
    return undefined;
  }
}
