// The job state machine shared by every executor (Kubernetes pods, local processes, remote
// runners) and by the scheduler. A job moves
//
//   scheduled → assigned → setup → running → uploading → done
//
// and can leave any pending state for `cancelled`. `assigned` may fall back to `scheduled` (the
// slot never picked the job up). `done` and `cancelled` are final: a restart creates a clone; the
// one way out of a final state is a restart in place (openQA's restart with clone=0), which goes
// back to `scheduled/none` and is recorded as made by RESTART_IN_PLACE. Each state change also
// fixes the result: pending states carry `none`, `done` carries a verdict, `cancelled` carries the
// reason it was stopped.
import { KubeqaError } from '../errors.js';
import { FINAL_STATES, isJobResult, isJobState, type JobResult, type JobState } from './states.js';

/** States in which a slot holds the job (openQA's EXECUTION_STATES). */
export const EXECUTION_STATES: readonly JobState[] = ['assigned', 'setup', 'running', 'uploading'];
/** Results that end a job which ran (or tried to) to its end. */
export const DONE_RESULTS: readonly JobResult[] = [
  'passed',
  'softfailed',
  'failed',
  'incomplete',
  'timeout_exceeded',
];
/** Results that a job which never got past `setup` can have when it is done. */
export const DONE_BEFORE_RUNNING_RESULTS: readonly JobResult[] = ['incomplete', 'timeout_exceeded'];
/** Results of a job stopped from outside (by a user, the scheduler or a related job). */
export const CANCEL_RESULTS: readonly JobResult[] = [
  'user_cancelled',
  'skipped',
  'obsoleted',
  'parallel_failed',
  'parallel_restarted',
  'user_restarted',
];
/** Cancel results possible before a slot holds the job. */
export const CANCEL_BEFORE_ASSIGNMENT_RESULTS: readonly JobResult[] = [
  'user_cancelled',
  'skipped',
  'obsoleted',
];
/** Results that are not a success; a START_AFTER child of such a job is skipped. */
export const NOT_OK_RESULTS: readonly JobResult[] = [
  'failed',
  'incomplete',
  'timeout_exceeded',
  ...CANCEL_RESULTS,
];

export function isFinalState(state: JobState): boolean {
  return FINAL_STATES.includes(state);
}

export function isExecutionState(state: JobState): boolean {
  return EXECUTION_STATES.includes(state);
}

export function isOkResult(result: JobResult): boolean {
  return result === 'passed' || result === 'softfailed';
}

/** A state with the result that goes with it. */
export interface JobStatus {
  readonly state: JobState;
  readonly result: JobResult;
}

/** Which states may follow which (the result is checked separately). */
const NEXT_STATES: Readonly<Record<JobState, readonly JobState[]>> = {
  scheduled: ['assigned', 'cancelled'],
  assigned: ['setup', 'scheduled', 'done', 'cancelled'],
  setup: ['running', 'done', 'cancelled'],
  running: ['uploading', 'done', 'cancelled'],
  uploading: ['done', 'cancelled'],
  done: [],
  cancelled: [],
};

function allowedResults(from: JobState, to: JobState): readonly JobResult[] {
  if (to === 'done')
    return from === 'assigned' || from === 'setup' ? DONE_BEFORE_RUNNING_RESULTS : DONE_RESULTS;
  if (to === 'cancelled') return from === 'scheduled' ? CANCEL_BEFORE_ASSIGNMENT_RESULTS : CANCEL_RESULTS;
  return ['none'];
}

export type TransitionCheck = { ok: true } | { ok: false; why: string };

/**
 * Who a restart in place (restart with clone=0) is recorded as (`job_state_changes.by`): the only
 * maker of a step out of a final state.
 */
export const RESTART_IN_PLACE = 'restart_in_place';

export interface TransitionOptions {
  /** A restart in place: the step must go from a final state to scheduled/none. */
  readonly restartInPlace?: boolean;
}

/** Whether a job may go from one status to the next; says why not when it may not. */
export function checkTransition(
  from: JobStatus,
  to: JobStatus,
  options: TransitionOptions = {},
): TransitionCheck {
  if (!isJobState(from.state) || !isJobState(to.state))
    return {
      ok: false,
      why: `unknown state ${JSON.stringify(isJobState(from.state) ? to.state : from.state)}`,
    };
  if (!isJobResult(from.result) || !isJobResult(to.result))
    return {
      ok: false,
      why: `unknown result ${JSON.stringify(isJobResult(from.result) ? to.result : from.result)}`,
    };
  if (!isFinalState(from.state) && from.result !== 'none')
    return { ok: false, why: `a ${from.state} job cannot already have the result ${from.result}` };
  if (options.restartInPlace) {
    if (!isFinalState(from.state))
      return { ok: false, why: `only a finished job can be restarted in place, not a ${from.state} one` };
    if (to.state !== 'scheduled' || to.result !== 'none')
      return { ok: false, why: 'a restart in place goes back to scheduled/none' };
    return { ok: true };
  }
  if (!NEXT_STATES[from.state].includes(to.state)) {
    const next = NEXT_STATES[from.state];
    return {
      ok: false,
      why:
        next.length === 0
          ? `${from.state} is final`
          : `${from.state} → ${to.state} is not a step of the job life cycle (from ${from.state}: ${next.join(', ')})`,
    };
  }
  const results = allowedResults(from.state, to.state);
  if (!results.includes(to.result))
    return {
      ok: false,
      why: `${from.state} → ${to.state} cannot carry the result ${to.result} (allowed: ${results.join(', ')})`,
    };
  return { ok: true };
}

/** Something that can record a rejected transition (a pino logger fits). */
export interface TransitionLog {
  warn(details: object, message: string): void;
}

/**
 * Throws KQ_ERR_ILLEGAL_TRANSITION (and logs it, when given a log) unless `from → to` is legal.
 */
export function assertTransition(
  jobId: number,
  from: JobStatus,
  to: JobStatus,
  log?: TransitionLog,
  options: TransitionOptions = {},
): void {
  const check = checkTransition(from, to, options);
  if (check.ok) return;
  log?.warn(
    { jobId, from: `${from.state}/${from.result}`, to: `${to.state}/${to.result}`, why: check.why },
    'illegal job transition rejected',
  );
  throw new KubeqaError(
    'KQ_ERR_ILLEGAL_TRANSITION',
    `job ${jobId} cannot go from ${from.state}/${from.result} to ${to.state}/${to.result}: ${check.why}`,
    'refresh the job and act on its current state; a finished job can only be restarted (which clones it)',
  );
}

/** One recorded state change. */
export interface TransitionRecord {
  readonly jobId: number;
  readonly from: JobStatus;
  readonly to: JobStatus;
  /** Who made it (`job_state_changes.by`); RESTART_IN_PLACE makes a step out of a final state legal. */
  readonly by?: string;
}

export interface AuditViolation {
  readonly index: number;
  readonly jobId: number;
  readonly why: string;
}

export interface AuditReport {
  readonly ok: boolean;
  readonly violations: readonly AuditViolation[];
  /** The last status of each job seen in the record. */
  readonly last: ReadonlyMap<number, JobStatus>;
}

export interface AuditOptions {
  /** Every job must start at scheduled/none (default true). */
  readonly startScheduled?: boolean;
  /** Every job must end in a final state (default false). */
  readonly requireFinal?: boolean;
}

/**
 * Checks a recorded sequence of transitions (in the order they happened): each step legal, each
 * step starting where the job's previous one ended, nothing after a final state but a restart in
 * place.
 */
export function auditTransitions(
  records: readonly TransitionRecord[],
  options: AuditOptions = {},
): AuditReport {
  const startScheduled = options.startScheduled ?? true;
  const violations: AuditViolation[] = [];
  const last = new Map<number, JobStatus>();
  records.forEach((record, index) => {
    const previous = last.get(record.jobId);
    if (previous === undefined) {
      if (startScheduled && (record.from.state !== 'scheduled' || record.from.result !== 'none'))
        violations.push({
          index,
          jobId: record.jobId,
          why: `first transition starts at ${record.from.state}/${record.from.result}, not scheduled/none`,
        });
    } else if (previous.state !== record.from.state || previous.result !== record.from.result) {
      violations.push({
        index,
        jobId: record.jobId,
        why: `starts at ${record.from.state}/${record.from.result} but the job was ${previous.state}/${previous.result}`,
      });
    }
    const check = checkTransition(record.from, record.to, {
      restartInPlace: record.by === RESTART_IN_PLACE,
    });
    if (!check.ok) violations.push({ index, jobId: record.jobId, why: check.why });
    last.set(record.jobId, record.to);
  });
  if (options.requireFinal) {
    for (const [jobId, status] of last) {
      if (!isFinalState(status.state))
        violations.push({
          index: records.length,
          jobId,
          why: `ended in ${status.state}, not in a final state`,
        });
    }
  }
  return { ok: violations.length === 0, violations, last };
}
