// The scheduler's view of jobs and slots, its configuration, and what one decision returns.
// Times are milliseconds since the epoch (the injected clock's), durations in the settings are
// seconds as in openQA.
import type { ClusterJob } from '../../domain/jobs/clusters.js';
import type { DependencyEdge } from '../../domain/jobs/dependency-graph.js';
import type { JobStatus } from '../../domain/jobs/state-machine.js';

/** What the scheduler knows about one job. */
export interface SchedulerJob extends ClusterJob {
  /** Lower runs first (openQA's convention; default 50). */
  readonly priority: number;
  readonly createdAt: number;
  /** TEST: orders directly chained sub-trees. */
  readonly test: string;
  /** WORKER_CLASS split at commas, trimmed, sorted, without duplicates; a slot needs all of them. */
  readonly workerClasses: readonly string[];
  readonly maxSetupSeconds: number;
  readonly maxJobSeconds: number;
  readonly timeoutScale: number;
  /** RETRY: how many times a failed/incomplete job is restarted automatically (0: never). */
  readonly retry: number;
  /** How many restarts led to this job (length of its clone chain). */
  readonly ancestors: number;
  /** How many of the directly preceding clones in its chain ended incomplete. */
  readonly incompleteAncestors: number;
  readonly slotId: string | null;
  /** Position in the slot's directly chained sequence (0 = first). */
  readonly sequenceIndex: number | null;
  readonly assignedAt: number | null;
  readonly setupAt: number | null;
  readonly startedAt: number | null;
  readonly finishedAt: number | null;
  readonly reason: string | null;
  /** DISTRI/VERSION/FLAVOR/ARCH/BUILD, for _OBSOLETE. */
  readonly product?: ProductKey;
  /** A job of an important build (commented or tagged) is deprioritized by _OBSOLETE, never cancelled. */
  readonly important?: boolean;
}

/** The fields of a job that has never been assigned or run (no clone chain behind it). */
export const NEVER_RUN = {
  ancestors: 0,
  incompleteAncestors: 0,
  slotId: null,
  sequenceIndex: null,
  assignedAt: null,
  setupAt: null,
  startedAt: null,
  finishedAt: null,
  reason: null,
} as const satisfies Partial<SchedulerJob>;

export interface ProductKey {
  readonly distri?: string;
  readonly version?: string;
  readonly flavor?: string;
  readonly arch?: string;
  readonly build?: string;
}

/** One place where one job (or one directly chained sequence) runs at a time. */
export interface Slot {
  readonly id: string;
  /** Worker pool (a Worker CR, or "local" for the embedded executor). */
  readonly pool: string;
  /** Worker classes this slot offers. */
  readonly classes: readonly string[];
  /** When the slot last reported (heartbeat or status). */
  readonly lastSeen: number;
}

export interface SchedulerConfig {
  /** Global limit of busy slots; 0 or Infinity for none (openQA's max_running_jobs). */
  readonly maxRunningJobs: number;
  /** A slot that has not reported for this long is stale: its jobs are abandoned. */
  readonly slotTimeoutMs: number;
  /** Reasons of incomplete jobs that mean "try again" (openQA's auto_clone_regex). */
  readonly transientReason: RegExp;
  /** How many incomplete clones in a row are auto-cloned at most (openQA's auto_clone_limit). */
  readonly autoCloneLimit: number;
  /** How much a parallel cluster that could not start gains in priority per pass. */
  readonly starvationStep: number;
}

export const DEFAULT_TRANSIENT_REASON =
  /^(cache failure: |terminated prematurely: |runner died: |abandoned: |api failure: Failed to register .* 503|backend died: .*VNC.*(timeout|timed out|refused)|QEMU terminated: Failed to allocate KVM HPT of order 25.* Cannot allocate memory)/;

export const DEFAULT_SCHEDULER_CONFIG: SchedulerConfig = {
  maxRunningJobs: Number.POSITIVE_INFINITY,
  slotTimeoutMs: 120_000,
  transientReason: DEFAULT_TRANSIENT_REASON,
  autoCloneLimit: 20,
  starvationStep: 1,
};

export interface DecisionInput {
  readonly now: number;
  /** Every pending job, every final job an edge connects to a pending one, and the `finished` ones. */
  readonly jobs: readonly SchedulerJob[];
  readonly edges: readonly DependencyEdge[];
  readonly slots: readonly Slot[];
  /** Jobs that became final since they were last followed up (stop related jobs, RETRY, auto-clone). */
  readonly finished: readonly number[];
  /** Starvation protection carried between passes: how much each waiting job has gained. */
  readonly priorityOffsets: ReadonlyMap<number, number>;
  readonly config: SchedulerConfig;
}

export interface StateChange {
  readonly jobId: number;
  readonly from: JobStatus;
  readonly to: JobStatus;
  readonly reason: string | null;
}

/** A slot gets one job, or a directly chained sequence to run in this order. */
export interface Assignment {
  readonly slotId: string;
  readonly jobIds: readonly number[];
}

export interface RestartRequest {
  readonly jobId: number;
  readonly why: string;
}

export interface Decision {
  readonly assignments: readonly Assignment[];
  /** Timeouts, abandoned jobs, skips, stopped cluster members, re-queued assignments. */
  readonly changes: readonly StateChange[];
  /** Why each job still scheduled after this pass is not running. */
  readonly reasons: ReadonlyMap<number, string>;
  /** Final jobs to clone (RETRY, known transient failure). */
  readonly restarts: readonly RestartRequest[];
  /** `finished` jobs handled by this decision. */
  readonly followedUp: readonly number[];
  readonly priorityOffsets: ReadonlyMap<number, number>;
  /** Free slots kept free this pass for a starving parallel cluster (slot → job). */
  readonly heldSlots: ReadonlyMap<string, number>;
  /** When a timeout or a stale slot needs the next pass, if nothing else wakes the loop first. */
  readonly nextWakeAt: number | null;
}
