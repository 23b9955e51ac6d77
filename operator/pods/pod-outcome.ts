// What a test pod's status says about its job, for when the runner cannot say it itself (it
// reports its real result through the API). Pure. Reasons of pods that died start with
// "runner died: ", which the scheduler treats as transient (the job is re-queued as a clone).

export interface PodView {
  metadata: { name: string; deletionTimestamp?: string };
  status?: {
    phase?: string;
    reason?: string;
    message?: string;
    conditions?: Array<{ type: string; status: string; reason?: string; message?: string }>;
    containerStatuses?: ContainerStatusView[];
    initContainerStatuses?: ContainerStatusView[];
  };
}

interface ContainerStatusView {
  name: string;
  ready?: boolean;
  restartCount?: number;
  state?: {
    waiting?: { reason?: string; message?: string };
    running?: { startedAt?: string };
    terminated?: { exitCode?: number; reason?: string; message?: string; signal?: number };
  };
}

export type PodOutcome =
  | { kind: 'pending'; reason: string }
  | { kind: 'running' }
  | { kind: 'succeeded' }
  | { kind: 'failed'; reason: string }
  | { kind: 'gone'; reason: string };

const FATAL_WAITING = new Set([
  'ErrImagePull',
  'ImagePullBackOff',
  'InvalidImageName',
  'CreateContainerConfigError',
  'CreateContainerError',
  'RunContainerError',
]);

export const RUNNER_CONTAINER = 'runner';

/** The outcome of a job's pod; `undefined` pod means it no longer exists. */
export function podOutcome(pod: PodView | undefined): PodOutcome {
  if (!pod) return { kind: 'gone', reason: 'runner died: the test pod was deleted' };
  const status = pod.status ?? {};
  const runner = status.containerStatuses?.find((c) => c.name === RUNNER_CONTAINER);
  if (status.phase === 'Succeeded') return { kind: 'succeeded' };
  if (status.phase === 'Failed') {
    if (status.reason === 'Evicted')
      return { kind: 'failed', reason: `runner died: pod evicted: ${status.message ?? ''}`.trim() };
    if (status.reason === 'DeadlineExceeded')
      return { kind: 'failed', reason: 'runner died: pod deadline exceeded' };
    const terminated = runner?.state?.terminated;
    if (terminated?.reason === 'OOMKilled')
      return {
        kind: 'failed',
        reason: 'runner died: out of memory (OOMKilled); raise the pool memory limit',
      };
    if (terminated) {
      const detail = terminated.signal
        ? `signal ${terminated.signal}`
        : `exit code ${terminated.exitCode ?? '?'}`;
      return {
        kind: 'failed',
        reason: `runner died: ${detail}${terminated.message ? `: ${terminated.message}` : ''}`,
      };
    }
    return { kind: 'failed', reason: `runner died: pod failed${status.reason ? ` (${status.reason})` : ''}` };
  }
  for (const container of [...(status.initContainerStatuses ?? []), ...(status.containerStatuses ?? [])]) {
    const waiting = container.state?.waiting;
    if (waiting?.reason && FATAL_WAITING.has(waiting.reason)) {
      return {
        kind: 'failed',
        reason: `runner died: container ${container.name} cannot start: ${waiting.reason}${waiting.message ? `: ${waiting.message}` : ''}`,
      };
    }
  }
  if (pod.metadata.deletionTimestamp)
    return { kind: 'gone', reason: 'runner died: the test pod is being deleted' };
  if (status.phase === 'Running' && runner?.state?.running) return { kind: 'running' };
  const unschedulable = status.conditions?.find((c) => c.type === 'PodScheduled' && c.status === 'False');
  if (unschedulable)
    return {
      kind: 'pending',
      reason: `waiting for a node: ${unschedulable.message ?? unschedulable.reason ?? 'unschedulable'}`,
    };
  if (status.phase === 'Running') return { kind: 'pending', reason: 'runner starting' };
  return { kind: 'pending', reason: 'pod pending' };
}
