// What test pods should exist, from the jobs the scheduler put on cluster slots and the pods that
// do exist. Pure: the Kubernetes executor does the I/O the plan asks for.
//
// - One pod per slot assignment: a job, or a directly chained sequence (in sequence order).
//   Its name comes from the first job's id, so a restarted or newly elected operator finds the
//   pod instead of making a second one.
// - Members of a parallel cluster that need pods are created together, all or none.
// - A job whose pod failed, ended or vanished before the job reported its end is ended
//   `incomplete` with a `runner died: …` reason (the scheduler retries those).
// - Pods whose jobs have all ended, or that belong to no known job, are deleted.
import { podName } from '../pods/build-pod.js';
import type { PodOutcome } from '../pods/pod-outcome.js';

export const ACTIVE_STATES = new Set(['assigned', 'setup', 'running', 'uploading']);

export interface ActiveJob {
  id: number;
  state: string;
  slotId: string;
  sequenceIndex: number | null;
}

export interface PodSummary {
  name: string;
  /** The jobs the pod runs, in order. */
  jobIds: number[];
  outcome: PodOutcome;
  deleting: boolean;
}

export interface PodToCreate {
  name: string;
  slotId: string;
  jobIds: number[];
}

export interface PodPlan {
  /** Groups of pods to create all or none (a parallel cluster; otherwise groups of one). */
  create: PodToCreate[][];
  /** Jobs to end incomplete, with the reason. */
  died: Array<{ jobId: number; reason: string }>;
  /** Pods to delete. */
  remove: string[];
  /** Groups held back until a retry time (an earlier creation failed): the earliest such time. */
  retryAt: number | null;
}

export function planPods(input: {
  active: readonly ActiveJob[];
  pods: readonly PodSummary[];
  /** Parallel dependency edges between active jobs. */
  parallel: ReadonlyArray<readonly [number, number]>;
  /** Job id → time before which its pod is not created again (after a failed attempt). */
  retryAt: ReadonlyMap<number, number>;
  now: number;
}): PodPlan {
  const activeById = new Map(input.active.map((job) => [job.id, job]));
  const covered = new Set<number>();
  const died = new Map<number, string>();
  const remove: string[] = [];

  for (const pod of input.pods) {
    for (const id of pod.jobIds) covered.add(id);
    const activeJobs = pod.jobIds.filter((id) => activeById.has(id));
    if (activeJobs.length === 0) {
      if (!pod.deleting) remove.push(pod.name);
      continue;
    }
    const { outcome } = pod;
    if (outcome.kind === 'failed' || outcome.kind === 'gone') {
      for (const id of activeJobs) died.set(id, outcome.reason);
    } else if (outcome.kind === 'succeeded') {
      for (const id of activeJobs)
        died.set(id, 'runner died: the test pod ended before the job reported its result');
    }
  }

  // Active jobs without a pod, per slot in sequence order.
  const bySlot = new Map<string, ActiveJob[]>();
  for (const job of input.active) {
    if (covered.has(job.id)) continue;
    const list = bySlot.get(job.slotId) ?? [];
    list.push(job);
    bySlot.set(job.slotId, list);
  }
  const wanted: PodToCreate[] = [];
  for (const [slotId, jobs] of bySlot) {
    jobs.sort((a, b) => (a.sequenceIndex ?? 0) - (b.sequenceIndex ?? 0) || a.id - b.id);
    if (jobs.some((job) => job.state !== 'assigned')) {
      // It ran (or runs) somewhere that is gone: its pod vanished without a trace.
      for (const job of jobs) died.set(job.id, 'runner died: the test pod is gone');
      continue;
    }
    const first = jobs[0] as ActiveJob;
    wanted.push({ name: podName(first.id), slotId, jobIds: jobs.map((job) => job.id) });
  }

  // Group the wanted pods by parallel cluster (union-find over job ids).
  const parent = new Map<number, number>();
  const find = (x: number): number => {
    let root = x;
    while (parent.has(root) && parent.get(root) !== root) root = parent.get(root) as number;
    parent.set(x, root);
    return root;
  };
  const union = (a: number, b: number) => {
    const ra = find(a);
    const rb = find(b);
    if (ra !== rb) parent.set(ra, rb);
  };
  for (const pod of wanted) {
    for (const id of pod.jobIds) union(id, pod.jobIds[0] as number);
  }
  for (const [a, b] of input.parallel) union(a, b);
  const groups = new Map<number, PodToCreate[]>();
  for (const pod of wanted) {
    const root = find(pod.jobIds[0] as number);
    const group = groups.get(root) ?? [];
    group.push(pod);
    groups.set(root, group);
  }
  const create: PodToCreate[][] = [];
  let retryAt: number | null = null;
  for (const group of groups.values()) {
    const due = Math.max(0, ...group.flatMap((pod) => pod.jobIds.map((id) => input.retryAt.get(id) ?? 0)));
    if (due > input.now) {
      retryAt = retryAt === null ? due : Math.min(retryAt, due);
      continue;
    }
    create.push(group.sort((a, b) => a.name.localeCompare(b.name)));
  }
  return {
    create,
    died: [...died].map(([jobId, reason]) => ({ jobId, reason })),
    remove,
    retryAt,
  };
}

/** The jobs a test pod runs: its annotation, else its job-id label. */
export function podJobIds(pod: {
  metadata: { labels?: Record<string, string>; annotations?: Record<string, string> };
}): number[] {
  const list = pod.metadata.annotations?.[ANNOTATION_JOB_IDS];
  if (list && /^\d+(,\d+)*$/.test(list)) return list.split(',').map(Number);
  const one = pod.metadata.labels?.['kubeqa.io/job-id'];
  return one && /^\d+$/.test(one) ? [Number(one)] : [];
}

export const ANNOTATION_JOB_IDS = 'kubeqa.io/job-ids';
export const ANNOTATION_SLOT = 'kubeqa.io/slot';
