// Jobs in tests: created through the real API (and put in `assigned`, as a committed assignment
// leaves them), a wait on a job's state that listens to the job events (no polling), and the
// audit of recorded state changes (job_state_changes) in the shape auditTransitions takes.
import { expect } from 'vitest';
import type { OpenDatabase } from '../../db/connect.js';
import { subscribeJobEvents } from '../../db/job-events.js';
import { changeJobStates } from '../../db/jobs.js';
import type { TransitionRecord } from '../../domain/jobs/state-machine.js';
import type { JobResult, JobState } from '../../domain/jobs/states.js';
import type { TestServer } from '../api/server.js';
import { within } from './deadlines.js';

/** A job created through the API (POST /jobs with these settings); its id. */
export async function createJob(s: TestServer, settings: Record<string, string>): Promise<number> {
  const created = await s.api('POST', 'jobs', settings);
  expect(created.status, JSON.stringify(created.body)).toBe(200);
  return created.body.id as number;
}

/** A job created through the API and put in `assigned`, as a committed assignment leaves it. */
export async function assignedJob(s: TestServer, settings: Record<string, string>): Promise<number> {
  const id = await createJob(s, settings);
  await s.database.transaction((q) => changeJobStates(q, [{ id, state: 'assigned' }], 'scheduler'));
  return id;
}

export interface JobStatus {
  state: string;
  result: string;
}

/**
 * Resolves with the job's state and result once `reached` holds for them: at once when it holds
 * already, else on the job event that makes it hold (no polling).
 */
export async function jobReaches(
  database: OpenDatabase,
  id: number,
  reached: (job: JobStatus) => boolean,
  timeoutMs: number,
): Promise<JobStatus> {
  let resolve!: (job: JobStatus) => void;
  const seen = new Promise<JobStatus>((r) => {
    resolve = r;
  });
  const stop = await subscribeJobEvents(database, (event) => {
    if (event.type === 'job.state' && Number(event.id) === id && reached(event)) resolve(event);
  });
  try {
    const [row] = await database.query<JobStatus>('select state, result from jobs where id = $1', [id]);
    if (row && reached(row)) return row;
    return await within(seen, timeoutMs, `job ${id} did not reach the expected state`);
  } finally {
    await stop();
  }
}

export const isRunning = (job: JobStatus) => job.state === 'running';
export const isFinal = (job: JobStatus) => job.state === 'done' || job.state === 'cancelled';

/** The recorded state changes (of one job, or of all), oldest first, with who made each. */
export async function recordedTransitions(
  database: OpenDatabase,
  jobId?: number,
): Promise<TransitionRecord[]> {
  const rows = await database.query<{
    job_id: number;
    from_state: JobState;
    from_result: JobResult;
    to_state: JobState;
    to_result: JobResult;
    by: string;
  }>(
    `select job_id, from_state, from_result, to_state, to_result, by from job_state_changes
      where $1::bigint is null or job_id = $1 order by id`,
    [jobId ?? null],
  );
  return rows.map((r) => ({
    jobId: Number(r.job_id),
    from: { state: r.from_state, result: r.from_result },
    to: { state: r.to_state, result: r.to_result },
    by: r.by,
  }));
}
