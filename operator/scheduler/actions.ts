// Cancel, restart and _OBSOLETE as pure plans over the scheduler's view of jobs; the store applies
// a plan in one transaction. Results follow openQA: the cancelled job gets user_cancelled (or
// obsoleted); related jobs not yet running are skipped, running ones parallel_failed. A restart
// clones the job's restart set (clusters.ts); of the old cluster, jobs still scheduled become
// skipped, running ones parallel_restarted, and the restarted job itself, if it was running,
// user_restarted.
import { KubeqaError } from '../../domain/errors.js';
import { restartSet, stopSet } from '../../domain/jobs/clusters.js';
import {
  type DependencyEdge,
  DependencyGraph,
  type DependencyKind,
} from '../../domain/jobs/dependency-graph.js';
import { isExecutionState, isFinalState, type JobStatus } from '../../domain/jobs/state-machine.js';
import type { JobResult } from '../../domain/jobs/states.js';
import type { ProductKey, SchedulerJob, StateChange } from './types.js';

/** The jobs and edges a plan is computed over (a store's snapshot). */
export interface JobView {
  readonly jobs: readonly SchedulerJob[];
  readonly edges: readonly DependencyEdge[];
}

/** A job in a plan: an existing one, or the clone of an existing one. */
export type JobRef = { readonly job: number } | { readonly cloneOf: number };

export interface ClonePlan {
  /** The job the user (or RETRY/auto-clone) restarted. */
  readonly origin: number;
  /** Jobs to clone; each clone is a new scheduled job with the original's settings. */
  readonly cloneOf: readonly number[];
  readonly edges: ReadonlyArray<{
    readonly parent: JobRef;
    readonly child: JobRef;
    readonly kind: DependencyKind;
  }>;
  /** Old jobs to stop. */
  readonly changes: readonly StateChange[];
  readonly why: string;
}

export interface CancelPlan {
  readonly changes: readonly StateChange[];
  readonly priorities: ReadonlyArray<{ readonly jobId: number; readonly priority: number }>;
}

function index(view: JobView): Map<number, SchedulerJob> {
  return new Map(view.jobs.map((job) => [job.id, job]));
}

function notFound(id: number): KubeqaError {
  return new KubeqaError('KQ_ERR_NOT_FOUND', `job ${id} does not exist`, 'check the job id');
}

/** Stopping a job and everything related to it. */
function stopChanges(
  view: JobView,
  jobs: Map<number, SchedulerJob>,
  jobId: number,
  result: JobResult,
  reason: string,
  done: Map<number, StateChange>,
): void {
  const job = jobs.get(jobId)!;
  if (isFinalState(job.state) || done.has(jobId)) return;
  const from: JobStatus = { state: job.state, result: job.result };
  done.set(jobId, { jobId, from, to: { state: 'cancelled', result }, reason });
  const graph = new DependencyGraph(view.edges);
  const lookup = (id: number) => {
    const j = jobs.get(id);
    const changed = done.get(id);
    return j && changed ? { ...j, ...changed.to } : j;
  };
  for (const id of stopSet(graph, lookup, jobId)) {
    const other = jobs.get(id);
    if (!other || isFinalState(other.state) || done.has(id)) continue;
    const early = other.state === 'scheduled' || other.state === 'assigned';
    done.set(id, {
      jobId: id,
      from: { state: other.state, result: other.result },
      to: { state: 'cancelled', result: early ? 'skipped' : 'parallel_failed' },
      reason: `${early ? 'skipped' : 'stopped'}: related job ${jobId} was ${result === 'obsoleted' ? 'obsoleted' : 'cancelled'}`,
    });
  }
}

/** Cancel a pending job (user_cancelled by default); a final job yields an empty plan. */
export function planCancel(
  view: JobView,
  jobId: number,
  result: 'user_cancelled' | 'obsoleted' = 'user_cancelled',
  reason = 'cancelled by user',
): CancelPlan {
  const jobs = index(view);
  if (!jobs.has(jobId)) throw notFound(jobId);
  const done = new Map<number, StateChange>();
  stopChanges(view, jobs, jobId, result, reason, done);
  return { changes: [...done.values()], priorities: [] };
}

export interface RestartOptions {
  readonly skipParents?: boolean;
  readonly skipChildren?: boolean;
  /** Restarted by the user (default) or automatically (RETRY, auto-clone). */
  readonly by?: 'user' | 'auto';
  readonly why?: string;
}

/** Restart a job with its cluster (openQA's auto_duplicate). */
export function planRestart(view: JobView, jobId: number, options: RestartOptions = {}): ClonePlan {
  const jobs = index(view);
  const job = jobs.get(jobId);
  if (!job) throw notFound(jobId);
  if (job.state === 'scheduled' || job.state === 'assigned')
    throw new KubeqaError(
      'KQ_ERR_CONFLICT',
      `job ${jobId} is still ${job.state}; there is nothing to restart yet`,
      'wait until it runs or cancel it',
    );
  if (job.clonedAs != null)
    throw new KubeqaError(
      'KQ_ERR_CONFLICT',
      `job ${jobId} has already been restarted as job ${job.clonedAs}`,
      `restart job ${job.clonedAs} instead`,
    );
  const graph = new DependencyGraph(view.edges);
  const lookup = (id: number) => jobs.get(id);
  const set = restartSet(graph, lookup, jobId, options);
  const members = new Set(set);
  const ref = (id: number): JobRef => (members.has(id) ? { cloneOf: id } : { job: id });
  const edges = view.edges
    .filter((edge) => members.has(edge.child))
    .map((edge) => ({ parent: ref(edge.parent), child: ref(edge.child), kind: edge.kind }));
  const changes: StateChange[] = [];
  for (const id of set) {
    const member = jobs.get(id);
    if (!member || isFinalState(member.state)) continue;
    const from = { state: member.state, result: member.result };
    if (id === jobId) {
      if (isExecutionState(member.state))
        changes.push({
          jobId: id,
          from,
          to: { state: 'cancelled', result: options.by === 'auto' ? 'parallel_restarted' : 'user_restarted' },
          reason: 'restarted',
        });
    } else if (member.state === 'scheduled')
      changes.push({
        jobId: id,
        from,
        to: { state: 'cancelled', result: 'skipped' },
        reason: `job ${jobId} restarted`,
      });
    else
      changes.push({
        jobId: id,
        from,
        to: { state: 'cancelled', result: 'parallel_restarted' },
        reason: `job ${jobId} restarted`,
      });
  }
  return { origin: jobId, cloneOf: set, edges, changes, why: options.why ?? 'restarted by user' };
}

export interface ObsoleteOptions {
  /** _ONLY_OBSOLETE_SAME_BUILD: only jobs of the new product's build. */
  readonly onlySameBuild?: boolean;
  /** _DEPRIORITIZEBUILD: raise the priority value by 10 instead of cancelling, up to the limit. */
  readonly deprioritize?: boolean;
  /** _DEPRIORITIZE_LIMIT (default 100): past it, the job is cancelled after all. */
  readonly deprioritizeLimit?: number;
}

/**
 * _OBSOLETE: before a new build's jobs are created, pending jobs of the same DISTRI, VERSION,
 * FLAVOR and ARCH are cancelled as obsoleted (jobs of important builds are left alone).
 */
export function planObsolete(view: JobView, product: ProductKey, options: ObsoleteOptions = {}): CancelPlan {
  const jobs = index(view);
  const keys = [
    'distri',
    'version',
    'flavor',
    'arch',
    ...(options.onlySameBuild ? (['build'] as const) : []),
  ] as const;
  const wanted = keys.filter((k) => product[k] !== undefined && product[k] !== '');
  if (wanted.length === 0)
    throw new KubeqaError(
      'KQ_ERR_INVALID_ARGUMENT',
      '_OBSOLETE needs at least one of DISTRI, VERSION, FLAVOR, ARCH to tell which jobs are older',
      'post the product with its DISTRI, VERSION, FLAVOR and ARCH',
    );
  const limit = options.deprioritizeLimit ?? 100;
  const done = new Map<number, StateChange>();
  const priorities: Array<{ jobId: number; priority: number }> = [];
  // scheduled jobs first so no slot grabs them meanwhile, then the running ones
  const matching = view.jobs
    .filter((job) => !isFinalState(job.state) && !job.important && job.product)
    .filter((job) => wanted.every((k) => job.product![k] === product[k]))
    .sort((a, b) => Number(a.state !== 'scheduled') - Number(b.state !== 'scheduled') || a.id - b.id);
  for (const job of matching) {
    if (options.deprioritize && job.priority + 10 < limit) {
      priorities.push({ jobId: job.id, priority: job.priority + 10 });
      continue;
    }
    stopChanges(view, jobs, job.id, 'obsoleted', `obsoleted by build ${product.build ?? '(unknown)'}`, done);
  }
  return { changes: [...done.values()], priorities };
}
