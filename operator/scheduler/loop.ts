// The event-driven loop around decide(): no fixed tick. A pass runs when something happened (a job
// was created or ended, a slot appeared, changed or vanished, an action was requested) or when
// the earliest deadline the last decision named (a timeout, a slot going stale) comes due. At
// most one pass runs at a time; wakes during a pass schedule exactly one more pass, and wakes
// that arrive together (a burst of job creations) share one pass.
import { assertTransition, isExecutionState, type TransitionLog } from '../../domain/jobs/state-machine.js';
import {
  type ClonePlan,
  type JobView,
  type ObsoleteOptions,
  planCancel,
  planObsolete,
  planRestart,
  type RestartOptions,
} from './actions.js';
import type { Clock } from './clock.js';
import { decide } from './decide.js';
import type { PassOutcome, SchedulerSnapshot, SchedulerStore } from './port.js';
import {
  type Assignment,
  DEFAULT_SCHEDULER_CONFIG,
  type Decision,
  type ProductKey,
  type SchedulerConfig,
  type SchedulerJob,
  type StateChange,
} from './types.js';

export type WakeReason =
  | 'start'
  | 'job-created'
  | 'job-finished'
  | 'job-changed'
  | 'slot-changed'
  | 'timer'
  | 'action'
  | 'follow-up'
  | 'retry';

export interface LoopLog extends TransitionLog {
  debug(details: object, message: string): void;
  error(details: object, message: string): void;
}

export interface LoopOptions {
  readonly store: SchedulerStore;
  readonly clock: Clock;
  readonly config?: Partial<SchedulerConfig>;
  readonly log?: LoopLog;
  /** Told about every assignment the store accepted (executors start the slot's jobs). */
  readonly onAssigned?: (assignment: Assignment) => void;
  /**
   * Told about every job that held a slot and was ended by the scheduler (timeout, abandoned,
   * cancelled, stopped with its cluster, restarted): the executor stops its runner.
   */
  readonly onStopped?: (stop: StoppedJob) => void;
  /** Told after every pass (tests, metrics). */
  readonly onPass?: (pass: PassReport) => void;
  /** Wait after a failed pass before trying again (default 1 s). */
  readonly retryAfterMs?: number;
}

export interface StoppedJob {
  readonly jobId: number;
  readonly slotId: string;
  readonly to: StateChange['to'];
  readonly reason: string | null;
}

export interface PassReport {
  readonly number: number;
  readonly reasons: readonly WakeReason[];
  readonly decision: Decision;
  readonly conflicts: readonly number[];
  readonly durationMs: number;
}

interface PendingAction {
  /** Jobs the action is about (their dependency components are loaded). */
  readonly focus: readonly number[];
  plan(view: JobView): {
    changes: readonly StateChange[];
    clones: ClonePlan[];
    priorities: PassOutcome['priorities'];
  };
  resolve(result: ActionResult): void;
  reject(error: unknown): void;
}

export interface ActionResult {
  readonly changes: readonly StateChange[];
  /** Original id → clone id, for restarts. */
  readonly cloned: ReadonlyMap<number, number>;
}

export class SchedulerLoop {
  readonly config: SchedulerConfig;
  private stopped = true;
  private running = false;
  private queued = false;
  private again = false;
  private reasons = new Set<WakeReason>();
  private idleWaiters: Array<() => void> = [];
  private cancelTimer: (() => void) | null = null;
  private unsubscribe: (() => void) | null = null;
  private actions: PendingAction[] = [];
  private passes = 0;

  constructor(private readonly options: LoopOptions) {
    this.config = { ...DEFAULT_SCHEDULER_CONFIG, ...options.config };
  }

  get passCount(): number {
    return this.passes;
  }

  start(): void {
    if (!this.stopped) return;
    this.stopped = false;
    this.unsubscribe = this.options.store.subscribe((event) => this.wake(event));
    this.wake('start');
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.unsubscribe?.();
    this.unsubscribe = null;
    this.cancelTimer?.();
    this.cancelTimer = null;
    await this.idle();
    for (const action of this.actions.splice(0)) action.reject(new Error('scheduler stopped'));
  }

  /** Asks for a pass. */
  wake(reason: WakeReason): void {
    if (this.stopped) return;
    this.reasons.add(reason);
    if (this.running) {
      this.again = true;
      return;
    }
    if (this.queued) return;
    this.queued = true;
    setImmediate(() => void this.runPasses());
  }

  /** Resolves when no pass runs or is due (every wake so far has been handled). */
  idle(): Promise<void> {
    if (!this.running && !this.queued) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  /** Cancels a job with openQA's cluster propagation, in the next pass. */
  cancel(jobId: number, reason?: string): Promise<ActionResult> {
    return this.enqueue([jobId], (view) => ({
      ...planCancel(view, jobId, 'user_cancelled', reason),
      clones: [],
    }));
  }

  /** Restarts a job with its cluster, in the next pass. */
  restart(jobId: number, options: RestartOptions = {}): Promise<ActionResult> {
    return this.enqueue([jobId], (view) => {
      const plan = planRestart(view, jobId, options);
      return { changes: [], clones: [plan], priorities: [] };
    });
  }

  /** _OBSOLETE: cancels (or deprioritizes) pending jobs of older builds of a product. */
  obsolete(product: ProductKey, options: ObsoleteOptions = {}): Promise<ActionResult> {
    return this.enqueue([], (view) => ({ ...planObsolete(view, product, options), clones: [] }));
  }

  private enqueue(focus: readonly number[], plan: PendingAction['plan']): Promise<ActionResult> {
    if (this.stopped) return Promise.reject(new Error('scheduler is not running; call start() first'));
    return new Promise((resolve, reject) => {
      this.actions.push({ focus, plan, resolve, reject });
      this.wake('action');
    });
  }

  private async runPasses(): Promise<void> {
    this.queued = false;
    this.running = true;
    try {
      do {
        this.again = false;
        const reasons = [...this.reasons];
        this.reasons.clear();
        try {
          await this.pass(reasons);
        } catch (error) {
          this.options.log?.error({ err: error }, 'scheduler pass failed; trying again');
          this.arm(this.options.clock.now() + (this.options.retryAfterMs ?? 1000), 'retry');
        }
      } while (this.again && !this.stopped);
    } finally {
      this.running = false;
      if (!this.queued) for (const resolve of this.idleWaiters.splice(0)) resolve();
    }
  }

  private arm(at: number, reason: WakeReason): void {
    this.cancelTimer?.();
    this.cancelTimer = this.stopped ? null : this.options.clock.setTimer(at, () => this.wake(reason));
  }

  private async pass(reasons: WakeReason[]): Promise<void> {
    const { store, clock, log } = this.options;
    const started = performance.now();
    const now = clock.now();
    const actions = this.actions.splice(0);
    let snapshot = await store.load(
      now,
      actions.flatMap((action) => action.focus),
    );
    if (actions.length > 0) {
      snapshot = await this.runActions(actions, snapshot, now);
    }

    const decision = decide({ ...snapshot, now, config: this.config });
    const changes = decision.changes.filter((change) => this.legal(change));
    const clones: ClonePlan[] = [];
    // the view after this pass only matters to restarts (it copies every job: built only then)
    const view = decision.restarts.length > 0 ? viewAfter(snapshot, changes, decision.assignments) : snapshot;
    for (const restart of decision.restarts) {
      try {
        clones.push(planRestart(view, restart.jobId, { by: 'auto', why: restart.why }));
      } catch (error) {
        log?.error({ jobId: restart.jobId, err: error }, 'automatic restart refused');
      }
    }
    const result = await store.commit({
      now,
      changes,
      assignments: decision.assignments,
      clones,
      priorities: [],
      reasons: decision.reasons,
      priorityOffsets: decision.priorityOffsets,
      followedUp: decision.followedUp,
    });
    const conflicted = new Set(result.conflicts);
    for (const assignment of decision.assignments) {
      if (!assignment.jobIds.some((id) => conflicted.has(id))) this.options.onAssigned?.(assignment);
    }
    this.tellStopped(snapshot, [...changes, ...clones.flatMap((c) => c.changes)], conflicted);
    this.tellCancelledOutside(snapshot, decision.followedUp);
    // new clones need a pass of their own; so does anything that moved under our feet
    if (result.conflicts.length > 0 || result.cloned.some((ids) => ids.size > 0)) this.wake('follow-up');
    if (decision.nextWakeAt !== null) this.arm(decision.nextWakeAt, 'timer');
    else {
      this.cancelTimer?.();
      this.cancelTimer = null;
    }
    this.passes += 1;
    const report: PassReport = {
      number: this.passes,
      reasons,
      decision,
      conflicts: result.conflicts,
      durationMs: performance.now() - started,
    };
    log?.debug(
      {
        pass: report.number,
        reasons,
        assigned: decision.assignments.length,
        changes: changes.length,
        restarts: clones.length,
        conflicts: result.conflicts.length,
        ms: Math.round(report.durationMs * 10) / 10,
      },
      'scheduler pass',
    );
    this.options.onPass?.(report);
  }

  private async runActions(actions: PendingAction[], snapshot: SchedulerSnapshot, now: number) {
    const { store } = this.options;
    const planned: Array<{ action: PendingAction; changes: readonly StateChange[]; clones: ClonePlan[] }> =
      [];
    const changes: StateChange[] = [];
    const clones: ClonePlan[] = [];
    const priorities: Array<{ jobId: number; priority: number }> = [];
    let view: JobView = snapshot;
    for (const action of actions) {
      try {
        const plan = action.plan(view);
        const legal = plan.changes.filter((change) => this.legal(change));
        changes.push(...legal);
        clones.push(...plan.clones);
        priorities.push(...plan.priorities);
        planned.push({ action, changes: legal, clones: plan.clones });
        view = viewAfter(view, [...legal, ...plan.clones.flatMap((c) => c.changes)], []);
      } catch (error) {
        action.reject(error);
      }
    }
    const result = await store.commit({
      now,
      changes,
      assignments: [],
      clones,
      priorities,
      reasons: new Map(),
      priorityOffsets: snapshot.priorityOffsets,
      followedUp: [],
    });
    this.tellStopped(snapshot, [...changes, ...clones.flatMap((c) => c.changes)], new Set(result.conflicts));
    let cloneIndex = 0;
    for (const { action, changes: own, clones: ownClones } of planned) {
      const cloned = new Map<number, number>();
      for (let i = 0; i < ownClones.length; i++)
        for (const [a, b] of result.cloned[cloneIndex++] ?? []) cloned.set(a, b);
      action.resolve({ changes: [...own, ...ownClones.flatMap((c) => c.changes)], cloned });
    }
    return store.load(now);
  }

  private tellStopped(
    snapshot: JobView,
    changes: readonly StateChange[],
    conflicted: ReadonlySet<number>,
  ): void {
    const onStopped = this.options.onStopped;
    if (!onStopped || changes.length === 0) return;
    const slotOf = new Map(snapshot.jobs.map((job) => [job.id, job.slotId]));
    for (const change of changes) {
      const slotId = slotOf.get(change.jobId);
      if (conflicted.has(change.jobId) || !slotId || !isExecutionState(change.from.state)) continue;
      if (change.to.state !== 'done' && change.to.state !== 'cancelled') continue;
      onStopped({ jobId: change.jobId, slotId, to: change.to, reason: change.reason });
    }
  }

  /**
   * Jobs that held a slot and were cancelled outside the scheduler (through the API, a deleted Job
   * resource, a newer build): their runners must stop too. Told once, when followed up.
   */
  private tellCancelledOutside(snapshot: SchedulerSnapshot, followedUp: readonly number[]): void {
    const onStopped = this.options.onStopped;
    if (!onStopped || followedUp.length === 0) return;
    const byId = new Map(snapshot.jobs.map((job) => [job.id, job]));
    for (const id of followedUp) {
      const job = byId.get(id);
      if (job?.state !== 'cancelled' || !job.slotId) continue;
      onStopped({
        jobId: id,
        slotId: job.slotId,
        to: { state: job.state, result: job.result },
        reason: job.reason,
      });
    }
  }

  private legal(change: StateChange): boolean {
    try {
      assertTransition(change.jobId, change.from, change.to, this.options.log);
      return true;
    } catch {
      return false;
    }
  }
}

/** The snapshot's jobs with changes and assignments applied (for planning restarts). */
function viewAfter(
  view: JobView,
  changes: readonly StateChange[],
  assignments: readonly Assignment[],
): JobView {
  if (changes.length === 0 && assignments.length === 0) return view;
  const jobs = new Map<number, SchedulerJob>(view.jobs.map((job) => [job.id, job]));
  for (const change of changes) {
    const job = jobs.get(change.jobId);
    if (job) jobs.set(job.id, { ...job, state: change.to.state, result: change.to.result });
  }
  for (const assignment of assignments) {
    for (const id of assignment.jobIds) {
      const job = jobs.get(id);
      if (job) jobs.set(id, { ...job, state: 'assigned', slotId: assignment.slotId });
    }
  }
  return { jobs: [...jobs.values()], edges: view.edges };
}
