// What the scheduler loop needs from storage. The in-memory store (memory-store.ts) implements it
// for tests and benchmarks; the PostgreSQL store implements it against the server's schema (see
// docs/scheduler.md for what it must guarantee: row locks, one pass at a time, LISTEN/NOTIFY).
import type { DependencyEdge } from '../../domain/jobs/dependency-graph.js';
import type { ClonePlan } from './actions.js';
import type { Assignment, SchedulerJob, Slot, StateChange } from './types.js';

export interface SchedulerSnapshot {
  /** Every pending job, every final job an edge connects to a pending one, and the `finished` ones. */
  readonly jobs: readonly SchedulerJob[];
  /** Every edge touching a job in `jobs`. */
  readonly edges: readonly DependencyEdge[];
  /** Every registered slot, with its last report. */
  readonly slots: readonly Slot[];
  /** Jobs that became final outside the scheduler (a runner reported) and are not followed up yet. */
  readonly finished: readonly number[];
  /** Starvation offsets carried from the previous pass. */
  readonly priorityOffsets: ReadonlyMap<number, number>;
}

export interface PassOutcome {
  readonly now: number;
  /** Applied first, in order; each only if the job is still in `from` (compare and set). */
  readonly changes: readonly StateChange[];
  /** Then each assignment, only if all its jobs are still scheduled and the slot holds no job. */
  readonly assignments: readonly Assignment[];
  /** Then the clones (RETRY, auto-clone, actions), each in one piece. */
  readonly clones: readonly ClonePlan[];
  /** Priority changes (_DEPRIORITIZEBUILD). */
  readonly priorities: ReadonlyArray<{ readonly jobId: number; readonly priority: number }>;
  /** Why each still-scheduled job waits (stored as the job's reason). */
  readonly reasons: ReadonlyMap<number, string>;
  /** Replaces the stored starvation offsets. */
  readonly priorityOffsets: ReadonlyMap<number, number>;
  /** `finished` jobs now followed up. */
  readonly followedUp: readonly number[];
}

export interface CommitResult {
  /** Jobs whose change (also a clone plan's) or assignment was not applied: their row had moved on. */
  readonly conflicts: readonly number[];
  /** Clone ids, per plan, original id → clone id. */
  readonly cloned: ReadonlyArray<ReadonlyMap<number, number>>;
}

export type StoreEvent = 'job-created' | 'job-finished' | 'job-changed' | 'slot-changed';

export interface SchedulerStore {
  /**
   * Reads what one pass needs. `focus`: jobs a requested action (cancel, restart) is about; the
   * snapshot then also holds every job connected to them through dependencies, whatever its state.
   */
  load(now: number, focus?: readonly number[]): Promise<SchedulerSnapshot>;
  /** Writes one pass's outcome in one transaction. */
  commit(outcome: PassOutcome): Promise<CommitResult>;
  /** Calls `listener` whenever something that may change a decision happened; returns unsubscribe. */
  subscribe(listener: (event: StoreEvent) => void): () => void;
}
