// Job states and results, with openQA's names (API clients compare these strings).
// The transitions between states are the scheduler's (domain/jobs/state-machine.ts).

export const JOB_STATES = [
  'scheduled',
  'assigned',
  'setup',
  'running',
  'uploading',
  'done',
  'cancelled',
] as const;
export type JobState = (typeof JOB_STATES)[number];

/** States in which a job holds or waits for a slot; openQA calls the first three "pending". */
export const PENDING_STATES: readonly JobState[] = ['scheduled', 'assigned', 'setup', 'running', 'uploading'];
export const FINAL_STATES: readonly JobState[] = ['done', 'cancelled'];

export const JOB_RESULTS = [
  'none',
  'passed',
  'softfailed',
  'failed',
  'incomplete',
  'skipped',
  'obsoleted',
  'parallel_failed',
  'parallel_restarted',
  'user_cancelled',
  'user_restarted',
  'timeout_exceeded',
] as const;
export type JobResult = (typeof JOB_RESULTS)[number];

/** Results that count as success (a START_AFTER child may start after these). */
export const OK_RESULTS: readonly JobResult[] = ['passed', 'softfailed'];

export function isJobState(value: string): value is JobState {
  return (JOB_STATES as readonly string[]).includes(value);
}

export function isJobResult(value: string): value is JobResult {
  return (JOB_RESULTS as readonly string[]).includes(value);
}
