// A Job CR's status as a projection of the job in kubeqa's database, and the TTL decision for
// finished Jobs. Pure.
import type { JobStatusRow } from '../../db/job-resources.js';
import type { JobResult, JobState } from '../../domain/jobs/states.js';
import { type Condition, setCondition } from '../controller/conditions.js';

export type JobConditionReason =
  | 'Waiting'
  | 'InvalidSpec'
  | 'WaitingForDependency'
  | 'Suspended'
  | 'Assigned'
  | 'NotStarted'
  | 'SettingUp'
  | 'Running'
  | 'Uploading'
  | 'Completed'
  | 'InProgress'
  | 'Passed'
  | 'Softfailed'
  | 'Failed'
  | 'Incomplete'
  | 'Skipped'
  | 'Obsoleted'
  | 'ParallelFailed'
  | 'ParallelRestarted'
  | 'UserCancelled'
  | 'UserRestarted'
  | 'TimeoutExceeded'
  | 'None';

/** What the projection reads of a job: its row as `jobStatusRows` gives it. */
export type JobView = JobStatusRow;

export interface JobCrStatus {
  phase: JobState;
  result: JobResult;
  reason?: string;
  jobId: number;
  url: string;
  startedAt?: string;
  finishedAt?: string;
  observedGeneration?: number;
  conditions: Condition<JobConditionReason>[];
}

/** openQA result → CamelCase condition reason (passed → Passed, parallel_failed → ParallelFailed). */
export function resultReason(result: JobResult): JobConditionReason {
  return result
    .split('_')
    .map((part) => part.charAt(0).toUpperCase() + part.slice(1))
    .join('') as JobConditionReason;
}

const iso = (date: Date | null) => (date ? date.toISOString().replace(/\.\d{3}Z$/, 'Z') : undefined);

export function jobCrStatus(
  job: JobView,
  options: {
    webUrl: string;
    generation?: number;
    suspended?: boolean;
    previous?: readonly Condition<JobConditionReason>[];
    now: Date;
  },
): JobCrStatus {
  const { state } = job;
  const final = state === 'done' || state === 'cancelled';
  const active = state === 'setup' || state === 'running' || state === 'uploading';
  const generation = options.generation;
  const message = job.reason ?? '';
  let conditions = [...(options.previous ?? [])];
  conditions = setCondition(
    conditions,
    state === 'scheduled'
      ? {
          type: 'Scheduled',
          status: 'False',
          reason: options.suspended ? 'Suspended' : 'Waiting',
          message: options.suspended ? 'spec.suspend is true' : message || 'waiting for a worker slot',
          observedGeneration: generation,
        }
      : {
          type: 'Scheduled',
          status: 'True',
          reason: 'Assigned',
          message: 'assigned to a worker slot',
          observedGeneration: generation,
        },
    options.now,
  );
  conditions = setCondition(
    conditions,
    active
      ? {
          type: 'Running',
          status: 'True',
          reason: state === 'setup' ? 'SettingUp' : state === 'uploading' ? 'Uploading' : 'Running',
          message: message || `job is ${state}`,
          observedGeneration: generation,
        }
      : {
          type: 'Running',
          status: 'False',
          reason: final ? 'Completed' : 'NotStarted',
          message: final ? 'the test has ended' : 'the test has not started',
          observedGeneration: generation,
        },
    options.now,
  );
  conditions = setCondition(
    conditions,
    final
      ? {
          type: 'Finished',
          status: 'True',
          reason: resultReason(job.result),
          message: message || `result: ${job.result}`,
          observedGeneration: generation,
        }
      : {
          type: 'Finished',
          status: 'False',
          reason: 'InProgress',
          message: 'the job has not finished',
          observedGeneration: generation,
        },
    options.now,
  );
  return {
    phase: state,
    result: job.result,
    ...(job.reason ? { reason: job.reason.slice(0, 4096) } : {}),
    jobId: job.id,
    url: `${options.webUrl.replace(/\/$/, '')}/tests/${job.id}`,
    ...(job.startedAt ? { startedAt: iso(job.startedAt) } : {}),
    ...(job.finishedAt ? { finishedAt: iso(job.finishedAt) } : {}),
    ...(generation !== undefined ? { observedGeneration: generation } : {}),
    conditions,
  };
}

/** Whether a finished Job CR is due for deletion, or in how many ms it will be. */
export function ttlDecision(
  finishedAt: Date | null,
  ttlSeconds: number | undefined,
  now: Date,
): { delete: true } | { delete: false; requeueAfterMs?: number } {
  if (ttlSeconds === undefined || !finishedAt) return { delete: false };
  const due = finishedAt.getTime() + ttlSeconds * 1000;
  return now.getTime() >= due ? { delete: true } : { delete: false, requeueAfterMs: due - now.getTime() };
}
