// An in-memory SchedulerStore: the reference implementation of the port, used by the unit tests
// of the loop and by the benchmarks. It also plays the other side (what the API and executors do
// to jobs and slots): creating jobs, slots reporting, runners reporting state changes. Every
// applied state change is recorded for auditTransitions().
import { KubeqaError } from '../../domain/errors.js';
import type { DependencyEdge, DependencyKind } from '../../domain/jobs/dependency-graph.js';
import {
  assertTransition,
  isExecutionState,
  isFinalState,
  type JobStatus,
  type TransitionLog,
  type TransitionRecord,
} from '../../domain/jobs/state-machine.js';
import type { JobResult, JobState } from '../../domain/jobs/states.js';
import type { ClonePlan, JobRef } from './actions.js';
import type { Clock } from './clock.js';
import type { CommitResult, PassOutcome, SchedulerSnapshot, SchedulerStore, StoreEvent } from './port.js';
import { DEFAULT_PRIORITY, parseSchedulingSettings } from './settings.js';
import { NEVER_RUN, type ProductKey, type SchedulerJob, type Slot } from './types.js';

export interface NewJob {
  readonly test: string;
  readonly priority?: number;
  readonly settings?: Readonly<Record<string, string>>;
  readonly product?: ProductKey;
  readonly important?: boolean;
}

type Mutable<T> = { -readonly [K in keyof T]: T[K] };
type StoredJob = Mutable<SchedulerJob> & { settings: Readonly<Record<string, string>> };

export class MemoryStore implements SchedulerStore {
  private readonly jobs = new Map<number, StoredJob>();
  private readonly pending = new Set<number>();
  private readonly edgesOf = new Map<number, DependencyEdge[]>();
  private readonly slots = new Map<string, Mutable<Slot>>();
  private readonly finished = new Set<number>();
  private offsets = new Map<number, number>();
  private readonly listeners = new Set<(event: StoreEvent) => void>();
  private readonly busy = new Map<string, number>();
  private nextId = 1;
  /** Every state change applied, in order. */
  readonly transitions: TransitionRecord[] = [];

  constructor(
    private readonly clock: Clock,
    private readonly options: { log?: TransitionLog; slotTimeoutMs?: number } = {},
  ) {}

  private get log(): TransitionLog | undefined {
    return this.options.log;
  }

  // --- the port ------------------------------------------------------------------------------

  async load(_now: number, focus: readonly number[] = []): Promise<SchedulerSnapshot> {
    const ids = new Set<number>([...this.pending, ...this.finished]);
    const edges = new Set<DependencyEdge>();
    // the whole dependency component of each focus job
    const todo = focus.filter((id) => this.jobs.has(id));
    const seen = new Set<number>(todo);
    while (todo.length > 0) {
      const id = todo.pop()!;
      ids.add(id);
      for (const edge of this.edgesOf.get(id) ?? []) {
        for (const next of [edge.parent, edge.child]) {
          if (!seen.has(next)) {
            seen.add(next);
            todo.push(next);
          }
        }
      }
    }
    for (const id of [...ids]) {
      for (const edge of this.edgesOf.get(id) ?? []) {
        edges.add(edge);
        ids.add(edge.parent);
        ids.add(edge.child);
      }
    }
    return {
      jobs: [...ids].map((id) => ({ ...this.jobs.get(id)! })),
      edges: [...edges],
      slots: [...this.slots.values()].map((slot) => ({ ...slot })),
      finished: [...this.finished],
      priorityOffsets: new Map(this.offsets),
    };
  }

  async commit(outcome: PassOutcome): Promise<CommitResult> {
    const conflicts: number[] = [];
    const now = outcome.now;
    for (const change of outcome.changes) {
      if (!this.apply(change.jobId, change.from, change.to, change.reason, now)) conflicts.push(change.jobId);
    }
    for (const assignment of outcome.assignments) {
      const slot = this.slots.get(assignment.slotId);
      const jobs = assignment.jobIds.map((id) => this.jobs.get(id));
      if (!slot || this.slotBusy(slot.id) || jobs.some((job) => job?.state !== 'scheduled')) {
        conflicts.push(...assignment.jobIds);
        continue;
      }
      assignment.jobIds.forEach((id, position) => {
        const job = this.jobs.get(id)!;
        job.slotId = slot.id;
        this.apply(
          id,
          { state: 'scheduled', result: 'none' },
          { state: 'assigned', result: 'none' },
          null,
          now,
        );
        job.sequenceIndex = position;
        job.assignedAt = now;
      });
    }
    const cloned = outcome.clones.map((plan) => this.applyClonePlan(plan, now, conflicts));
    for (const { jobId, priority } of outcome.priorities) {
      const job = this.jobs.get(jobId);
      if (job) job.priority = priority;
    }
    for (const [id, reason] of outcome.reasons) {
      const job = this.jobs.get(id);
      if (job?.state === 'scheduled') job.reason = reason;
    }
    this.offsets = new Map(outcome.priorityOffsets);
    for (const id of outcome.followedUp) this.finished.delete(id);
    return { conflicts, cloned };
  }

  subscribe(listener: (event: StoreEvent) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  // --- the other side: API and executors ------------------------------------------------------

  /** Creates a scheduled job (settings validated; throws KQ_ERR_INVALID_SETTING). */
  createJob(spec: NewJob, emit = true): number {
    const settings = spec.settings ?? {};
    const parsed = parseSchedulingSettings(settings);
    const priority = spec.priority ?? DEFAULT_PRIORITY;
    if (!Number.isInteger(priority))
      throw new KubeqaError(
        'KQ_ERR_INVALID_ARGUMENT',
        `priority ${priority} is not an integer`,
        'use e.g. 50',
      );
    const id = this.nextId++;
    this.jobs.set(id, {
      id,
      state: 'scheduled',
      result: 'none',
      clonedAs: null,
      cancelWholeCluster: parsed.cancelWholeCluster,
      priority,
      createdAt: this.clock.now(),
      test: spec.test,
      workerClasses: parsed.workerClasses,
      maxSetupSeconds: parsed.maxSetupSeconds,
      maxJobSeconds: parsed.maxJobSeconds,
      timeoutScale: parsed.timeoutScale,
      retry: parsed.retry,
      ...NEVER_RUN,
      ...(spec.product ? { product: spec.product } : {}),
      ...(spec.important ? { important: true } : {}),
      settings,
    });
    this.pending.add(id);
    if (emit) this.emit('job-created');
    return id;
  }

  addDependency(parent: number, child: number, kind: DependencyKind): void {
    for (const id of [parent, child]) {
      if (!this.jobs.has(id))
        throw new KubeqaError('KQ_ERR_NOT_FOUND', `job ${id} does not exist`, 'create both jobs first');
    }
    this.addEdge({ parent, child, kind });
    this.emit('job-created');
  }

  /** Registers a slot or updates it; counts as a report. */
  upsertSlot(slot: { id: string; pool?: string; classes?: readonly string[] }): void {
    this.slots.set(slot.id, {
      id: slot.id,
      pool: slot.pool ?? 'default',
      classes: [...(slot.classes ?? [])].sort(),
      lastSeen: this.clock.now(),
    });
    this.emit('slot-changed');
  }

  /** A slot reports that it is alive. */
  heartbeat(slotId: string): void {
    const slot = this.slots.get(slotId);
    if (!slot)
      throw new KubeqaError('KQ_ERR_NOT_FOUND', `slot ${slotId} is not registered`, 'register it first');
    const now = this.clock.now();
    const wasStale = now - slot.lastSeen > (this.options.slotTimeoutMs ?? 120_000);
    slot.lastSeen = now;
    // a slot coming back is news for the scheduler; an ordinary heartbeat is not
    if (wasStale) this.emit('slot-changed');
  }

  removeSlot(slotId: string): void {
    this.slots.delete(slotId);
    this.emit('slot-changed');
  }

  /** A runner reports a state change of its job (validated by the state machine). */
  report(jobId: number, state: JobState, result: JobResult = 'none', reason: string | null = null): void {
    const job = this.jobs.get(jobId);
    if (!job) throw new KubeqaError('KQ_ERR_NOT_FOUND', `job ${jobId} does not exist`, 'check the job id');
    const from = { state: job.state, result: job.result };
    assertTransition(jobId, from, { state, result }, this.log);
    const now = this.clock.now();
    this.apply(jobId, from, { state, result }, reason, now);
    if (job.slotId) {
      const slot = this.slots.get(job.slotId);
      if (slot) slot.lastSeen = now;
    }
    if (isFinalState(state)) {
      this.finished.add(jobId);
      this.emit('job-finished');
    } else this.emit('job-changed');
  }

  get(jobId: number): SchedulerJob & { settings: Readonly<Record<string, string>> } {
    const job = this.jobs.get(jobId);
    if (!job) throw new KubeqaError('KQ_ERR_NOT_FOUND', `job ${jobId} does not exist`, 'check the job id');
    return { ...job };
  }

  all(): SchedulerJob[] {
    return [...this.jobs.values()].map((job) => ({ ...job }));
  }

  /** The jobs a slot holds, in the order it runs them. */
  jobsOfSlot(slotId: string): SchedulerJob[] {
    return [...this.jobs.values()]
      .filter((job) => job.slotId === slotId && isExecutionState(job.state))
      .sort((a, b) => (a.sequenceIndex ?? 0) - (b.sequenceIndex ?? 0))
      .map((job) => ({ ...job }));
  }

  edges(): DependencyEdge[] {
    const all = new Set<DependencyEdge>();
    for (const list of this.edgesOf.values()) for (const edge of list) all.add(edge);
    return [...all];
  }

  priorityOffset(jobId: number): number {
    return this.offsets.get(jobId) ?? 0;
  }

  // --- internals -----------------------------------------------------------------------------

  private emit(event: StoreEvent): void {
    for (const listener of this.listeners) listener(event);
  }

  private addEdge(edge: DependencyEdge): void {
    for (const id of [edge.parent, edge.child]) {
      const list = this.edgesOf.get(id);
      if (list) list.push(edge);
      else this.edgesOf.set(id, [edge]);
    }
  }

  private slotBusy(slotId: string): boolean {
    return (this.busy.get(slotId) ?? 0) > 0;
  }

  /** Compare-and-set: applies the change only if the job is still in `from`. */
  private apply(jobId: number, from: JobStatus, to: JobStatus, reason: string | null, now: number): boolean {
    const job = this.jobs.get(jobId);
    if (!job || job.state !== from.state || job.result !== from.result) return false;
    try {
      assertTransition(jobId, from, to, this.log);
    } catch {
      return false;
    }
    if (job.slotId !== null && isExecutionState(from.state) !== isExecutionState(to.state))
      this.busy.set(job.slotId, (this.busy.get(job.slotId) ?? 0) + (isExecutionState(to.state) ? 1 : -1));
    job.state = to.state;
    job.result = to.result;
    if (reason !== null) job.reason = reason;
    if (to.state === 'setup') job.setupAt = now;
    if (to.state === 'running') job.startedAt = now;
    if (to.state === 'scheduled') {
      job.slotId = null;
      job.sequenceIndex = null;
      job.assignedAt = null;
    }
    if (isFinalState(to.state)) {
      job.finishedAt = now;
      this.pending.delete(jobId);
    }
    this.transitions.push({ jobId, from, to });
    return true;
  }

  private applyClonePlan(plan: ClonePlan, now: number, conflicts: number[]): Map<number, number> {
    const ids = new Map<number, number>();
    if (plan.cloneOf.some((id) => this.jobs.get(id)?.clonedAs != null)) {
      conflicts.push(plan.origin);
      return ids;
    }
    for (const change of plan.changes) {
      if (!this.apply(change.jobId, change.from, change.to, change.reason, now)) conflicts.push(change.jobId);
    }
    for (const original of plan.cloneOf) {
      const source = this.jobs.get(original)!;
      const id = this.nextId++;
      this.jobs.set(id, {
        ...source,
        id,
        state: 'scheduled',
        result: 'none',
        clonedAs: null,
        createdAt: now,
        ancestors: source.ancestors + 1,
        incompleteAncestors: source.result === 'incomplete' ? source.incompleteAncestors + 1 : 0,
        slotId: null,
        sequenceIndex: null,
        assignedAt: null,
        setupAt: null,
        startedAt: null,
        finishedAt: null,
        reason: original === plan.origin ? plan.why : `restarted with job ${plan.origin}`,
      });
      source.clonedAs = id;
      this.pending.add(id);
      ids.set(original, id);
    }
    const resolve = (ref: JobRef) => ('job' in ref ? ref.job : ids.get(ref.cloneOf)!);
    for (const edge of plan.edges)
      this.addEdge({ parent: resolve(edge.parent), child: resolve(edge.child), kind: edge.kind });
    return ids;
  }
}
