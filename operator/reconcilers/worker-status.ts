// A Worker pool's status from what is observed: its test pods and the queue's demand. Pure.
import { type Condition, findCondition, setCondition } from '../controller/conditions.js';

export type WorkerReadyReason = 'PoolReady' | 'Paused';

export interface WorkerObject {
  metadata: { name: string; namespace?: string; generation?: number; uid?: string; resourceVersion?: string };
  spec: { workerClasses: string[]; arch: string; maxJobs?: number };
  status?: WorkerStatus;
}

export interface WorkerStatus {
  running?: number;
  queued?: number;
  observedGeneration?: number;
  conditions?: Condition<WorkerReadyReason>[];
}

export interface PodPhaseView {
  status?: { phase?: string };
  metadata: { deletionTimestamp?: string };
}

/** Pods that hold one of the pool's slots: not finished (a deleting pod still holds its slot). */
export function occupiedSlots(pods: readonly PodPhaseView[]): number {
  return pods.filter((pod) => pod.status?.phase !== 'Succeeded' && pod.status?.phase !== 'Failed').length;
}

export function workerStatus(
  worker: WorkerObject,
  pods: readonly PodPhaseView[],
  queued: number,
  now: Date,
): WorkerStatus {
  const maxJobs = worker.spec.maxJobs ?? 1;
  const running = occupiedSlots(pods);
  const ready =
    maxJobs > 0
      ? {
          type: 'Ready',
          status: 'True' as const,
          reason: 'PoolReady' as const,
          message: `${running} of ${maxJobs} slots in use for ${worker.spec.workerClasses.join(',')} (${worker.spec.arch})`,
        }
      : {
          type: 'Ready',
          status: 'False' as const,
          reason: 'Paused' as const,
          message: 'maxJobs is 0: the pool takes no jobs',
        };
  return {
    running,
    queued,
    observedGeneration: worker.metadata.generation,
    conditions: setCondition(
      worker.status?.conditions,
      { ...ready, observedGeneration: worker.metadata.generation },
      now,
    ),
  };
}

/** Whether writing `next` would change anything (ignoring the condition message's slot count churn is not done: counts matter). */
export function statusChanged(current: WorkerStatus | undefined, next: WorkerStatus): boolean {
  if (!current) return true;
  if (current.running !== next.running || current.queued !== next.queued) return true;
  if (current.observedGeneration !== next.observedGeneration) return true;
  const a = findCondition(current.conditions, 'Ready');
  const b = findCondition(next.conditions, 'Ready');
  return a?.status !== b?.status || a?.reason !== b?.reason || a?.message !== b?.message;
}
