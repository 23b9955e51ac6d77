// The scheduler's store on the server's PostgreSQL schema (the same code runs on the embedded
// PGlite). What it guarantees is written down in docs/scheduler.md ("What the PostgreSQL store
// does"): one transaction per commit, compare-and-set on every row it changes, rows that another
// transaction holds are skipped and reported as conflicts (never waited for), one slot one job
// (also enforced by partial unique indexes), an audit row per transition, wake-ups through
// LISTEN/NOTIFY on kubeqa_scheduler. Starvation offsets live in this process's memory, as in
// openQA: a new leader starts without them, which only delays protection.
//
// Reading (docs/scheduler.md, "How the store reads"): the jobs waiting in `scheduled` — the bulk
// of a long queue — are kept in memory between passes (`JobCache`) and re-read only when a job
// event names them (kubeqa_job_events: created, state, deleted; kubeqa_ui_events: priority), when
// a commit could not change them, or in a full re-read: at the start, after a lost LISTEN
// connection, and every `fullReadEveryMs` as a safety net. Jobs holding a slot and jobs to follow
// up (few: at most one sequence per slot) are read on every pass.
import type { OpenDatabase, QueryFn } from '../../db/connect.js';
import { type CloneEdge, insertClones } from '../../db/job-actions.js';
import {
  type JobEvent,
  SCHEDULER_CHANNEL,
  subscribeJobEvents,
  UI_EVENTS_CHANNEL,
  type UiJobEvent,
} from '../../db/job-events.js';
import { changeJobStates } from '../../db/jobs.js';
import type { DependencyEdge, DependencyKind } from '../../domain/jobs/dependency-graph.js';
import { checkTransition, EXECUTION_STATES, isFinalState } from '../../domain/jobs/state-machine.js';
import type { JobResult, JobState } from '../../domain/jobs/states.js';
import type { ClonePlan } from './actions.js';
import type { CommitResult, PassOutcome, SchedulerSnapshot, SchedulerStore, StoreEvent } from './port.js';
import { parseSchedulingSettings, type SchedulingSettings } from './settings.js';
import type { SchedulerJob, Slot, StateChange } from './types.js';

const STORE_EVENTS: readonly StoreEvent[] = ['job-created', 'job-finished', 'job-changed', 'slot-changed'];

/** The settings the scheduler reads, in this order (see `sched` in JOB_COLUMNS). */
const SCHEDULING_KEYS = [
  'WORKER_CLASS',
  'MAX_SETUP_TIME',
  'MAX_JOB_TIME',
  'TIMEOUT_SCALE',
  'RETRY',
  'PARALLEL_CANCEL_WHOLE_CLUSTER',
] as const;

interface JobRow {
  id: number;
  state: JobState;
  result: JobResult;
  reason: string | null;
  priority: number;
  clone_id: number | null;
  follow_up: boolean;
  test: string;
  distri: string;
  version: string;
  flavor: string;
  arch: string;
  build: string;
  /** The scheduling settings only, as the JSON text of an array in SCHEDULING_KEYS order. */
  sched: string;
  slot_id: string | null;
  sequence_index: number | null;
  ancestors: number;
  incomplete_ancestors: number;
  group_id: number | null;
  t_created: number;
  t_assigned: number | null;
  t_setup: number | null;
  t_started: number | null;
  t_finished: number | null;
}

/** A timestamp column as milliseconds since the epoch. */
const ms = (column: string, alias: string) => `(extract(epoch from ${column}) * 1000)::float8 as ${alias}`;

const JOB_COLUMNS = `j.id, j.state, j.result, j.reason, j.priority, j.clone_id, j.follow_up, j.group_id, j.test,
  j.distri, j.version, j.flavor, j.arch, j.build, j.slot_id, j.sequence_index, j.ancestors, j.incomplete_ancestors,
  jsonb_build_array(${SCHEDULING_KEYS.map((k) => `j.settings->'${k}'`).join(', ')})::text as sched,
  ${['t_created', 't_assigned', 't_setup', 't_started', 't_finished'].map((c) => ms(`j.${c}`, c)).join(', ')}`;

const PENDING: readonly JobState[] = ['scheduled', ...EXECUTION_STATES];

/** Distinct scheduling settings kept parsed at most (a few in practice). */
const MAX_PARSED = 10_000;

export interface PgStoreLog {
  warn(details: object, message: string): void;
}

export interface PgStoreOptions {
  readonly log?: PgStoreLog;
  /**
   * How often everything is read again, as a safety net for a change no event announced (a row
   * edited by hand, a priority raised by _DEPRIORITIZEBUILD); default 30 s. 0: on every pass.
   */
  readonly fullReadEveryMs?: number;
}

/** What the store remembers of a job between passes. */
interface Cached {
  readonly job: SchedulerJob;
  readonly followUp: boolean;
  readonly groupId: number | null;
}

export class PgSchedulerStore implements SchedulerStore {
  private offsets = new Map<number, number>();
  private readonly listeners = new Set<(event: StoreEvent) => void>();
  private unlisten: Array<() => Promise<void>> = [];
  private started = false;
  /** Parsed scheduling settings by their JSON text (jobs with the same settings share one). */
  private readonly parsed = new Map<string, SchedulingSettings>();
  /** Builds tagged important (`group\0build`); null: read them again. */
  private important: Set<string> | null = null;

  // --- the jobs kept between passes ---
  /** Every job read and not forgotten: the waiting ones, those holding slots, their neighbours. */
  private readonly known = new Map<number, Cached>();
  /** Edges touching a job; complete for the jobs in `edgesRead`, partial for other neighbours. */
  private readonly edgesOf = new Map<number, DependencyEdge[]>();
  private readonly edgeKeys = new Set<string>();
  private readonly edgesRead = new Set<number>();
  /** Jobs to read again in the next pass (named by an event, a conflict, a commit). */
  private dirty = new Set<number>();
  /** Jobs created since the last pass (their originals got a clone_id: read those too). */
  private created = new Set<number>();
  /** Jobs the last pass read because they held a slot or waited for their follow-up. */
  private active: number[] = [];
  private fullReadDue = true;
  private lastFullRead = 0;
  private fullReadTimer: NodeJS.Timeout | null = null;
  /** `id:state` of the state changes the running commit writes: their events wake nobody. */
  private ownWrites = new Set<string>();

  constructor(
    private readonly database: OpenDatabase,
    private readonly options: PgStoreOptions = {},
  ) {}

  private get fullReadEveryMs(): number {
    return this.options.fullReadEveryMs ?? 30_000;
  }

  /** Starts listening for wake-ups and job events; call before the loop starts. */
  async start(): Promise<void> {
    if (this.started) return;
    this.started = true;
    this.fullReadDue = true;
    // notifications may have been missed while a connection was down: re-read everything
    const onReconnect = () => {
      this.fullReadDue = true;
      this.emit('slot-changed');
    };
    try {
      this.unlisten.push(
        await subscribeJobEvents(this.database, (event) => this.onJobEvent(event), { onReconnect }),
        await this.database.listen(UI_EVENTS_CHANNEL, (payload) => this.onUiEvent(payload), {
          onReconnect,
        }),
        await this.database.listen(
          SCHEDULER_CHANNEL,
          (payload) => {
            const event = STORE_EVENTS.find((e) => e === payload);
            // a new job wakes the loop through its job.created event (below), which names it
            if (event && event !== 'job-created') this.emit(event);
          },
          { onReconnect },
        ),
      );
    } catch (error) {
      await this.close();
      throw error;
    }
  }

  async close(): Promise<void> {
    this.started = false;
    if (this.fullReadTimer) clearTimeout(this.fullReadTimer);
    this.fullReadTimer = null;
    const stops = this.unlisten.splice(0);
    await Promise.all(stops.map((stop) => stop()));
  }

  /** Whether the next pass reads this job again (an event named it, or a commit changed it). */
  willRead(jobId: number): boolean {
    return this.dirty.has(jobId) || this.fullReadDue;
  }

  subscribe(listener: (event: StoreEvent) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  private emit(event: StoreEvent): void {
    for (const listener of this.listeners) listener(event);
  }

  /** The safety net runs as a pass of its own, not in the pass of the next new job. */
  private armFullRead(): void {
    if (this.fullReadTimer) clearTimeout(this.fullReadTimer);
    this.fullReadTimer = null;
    if (!this.started || this.fullReadEveryMs <= 0) return;
    const due = this.lastFullRead + this.fullReadEveryMs - performance.now();
    this.fullReadTimer = setTimeout(
      () => {
        this.fullReadTimer = null;
        this.fullReadDue = true;
        this.emit('job-changed');
      },
      Math.max(due, 0),
    );
    this.fullReadTimer.unref();
  }

  private onJobEvent(event: JobEvent): void {
    if (event.type === 'job.created') {
      for (const id of event.ids) {
        this.dirty.add(id);
        this.created.add(id);
      }
      // one pass per new job: none when a pass woken otherwise has read it already
      if (event.ids.some((id) => !this.known.has(id))) this.emit('job-created');
    } else if (event.type === 'job.deleted') {
      const gone = new Set(event.ids);
      for (const id of gone) this.dirty.add(id);
      // the jobs they were clones of lost their clone_id
      for (const [id, cached] of this.known)
        if (cached.job.clonedAs !== null && gone.has(cached.job.clonedAs)) this.dirty.add(id);
    } else if (event.type === 'job.state') {
      this.dirty.add(event.id);
      // a job waiting again (not by our own hand) is not among the jobs every pass reads
      const own = this.ownWrites.delete(`${event.id}:${event.state}`);
      if (event.state === 'scheduled' && !own) this.emit('job-changed');
    }
  }

  private onUiEvent(payload: string): void {
    let event: UiJobEvent;
    try {
      event = JSON.parse(payload) as UiJobEvent;
    } catch {
      return;
    }
    // a priority is read by the next pass (as before: it does not wake the scheduler)
    if (event.type === 'job.priority' && typeof event.id === 'number') this.dirty.add(event.id);
    if (event.type === 'job.comment') this.important = null;
  }

  // --- load ------------------------------------------------------------------------------------

  async load(_now: number, focus: readonly number[] = []): Promise<SchedulerSnapshot> {
    const q = this.database.query;
    // without events nothing says what changed: read everything (a store used without start())
    if (!this.started || this.fullReadDue || performance.now() - this.lastFullRead >= this.fullReadEveryMs)
      await this.readAll(q);
    else await this.readChanges(q);

    // the snapshot: every pending job and every one to follow up (the core), every edge touching
    // them, the jobs at the other ends
    const jobs: SchedulerJob[] = [];
    const finished: number[] = [];
    const edges = new Set<DependencyEdge>();
    const ids = new Set<number>();
    const important = this.important ?? (await this.readImportantBuilds(q));
    for (const [id, cached] of this.known) {
      const { job } = cached;
      const final = isFinalState(job.state);
      if (final && !cached.followUp) continue;
      if (final) finished.push(id);
      ids.add(id);
      jobs.push(important.size > 0 ? this.withImportance(cached, important) : job);
      for (const edge of this.edgesOf.get(id) ?? []) edges.add(edge);
    }
    // the whole dependency component of each focus job (a requested cancel or restart)
    const component =
      focus.length === 0
        ? []
        : (
            await q<{ id: number }>(
              `with recursive c(id) as (select unnest($1::bigint[])
                 union select case when d.child_job_id = c.id then d.parent_job_id else d.child_job_id end
                   from job_dependencies d join c on d.child_job_id = c.id or d.parent_job_id = c.id)
               select id from c`,
              [focus],
            )
          )
            .map((row) => Number(row.id))
            .filter((id) => !ids.has(id));
    const inComponent = new Set(component);
    if (component.length > 0) {
      for (const edge of await this.readEdges(q, component)) edges.add(edge);
      for (const id of component) ids.add(id);
    }
    const others = new Set<number>();
    for (const edge of edges) {
      if (!ids.has(edge.parent)) others.add(edge.parent);
      if (!ids.has(edge.child)) others.add(edge.child);
    }
    // jobs of the component and at the other ends: read fresh unless known from this pass
    const fresh = [...component, ...[...others].filter((id) => !this.known.has(id))];
    if (fresh.length > 0) {
      for (const row of await q<JobRow>(`select ${JOB_COLUMNS} from jobs j where j.id = any($1::bigint[])`, [
        fresh,
      ])) {
        const cached = this.remember(row);
        if (inComponent.has(cached.job.id))
          jobs.push(important.size > 0 ? this.withImportance(cached, important) : cached.job);
      }
    }
    for (const id of others) {
      const cached = this.known.get(id);
      if (cached) jobs.push(important.size > 0 ? this.withImportance(cached, important) : cached.job);
    }

    const slots = await q<{ id: string; pool: string; classes: string[]; last_seen: number }>(
      `select id, pool, classes, ${ms('last_seen', 'last_seen')} from slots`,
    );
    for (const id of this.offsets.keys()) if (!ids.has(id)) this.offsets.delete(id);
    return {
      jobs,
      edges: [...edges],
      slots: slots.map(
        (row): Slot => ({
          id: row.id,
          pool: row.pool,
          classes: [...row.classes].sort(),
          lastSeen: Number(row.last_seen),
        }),
      ),
      finished,
      priorityOffsets: new Map(this.offsets),
    };
  }

  /** Forgets what it knew and reads every pending job, every one to follow up, and their edges. */
  private async readAll(q: QueryFn): Promise<void> {
    // events that arrive from now on may announce changes this read does not see yet
    this.dirty = new Set();
    this.created = new Set();
    this.ownWrites = new Set();
    this.important = null;
    this.fullReadDue = false;
    this.lastFullRead = performance.now();
    this.armFullRead();
    const rows = await q<JobRow>(
      `select ${JOB_COLUMNS} from jobs j where j.state = any($1::text[]) or j.follow_up`,
      [PENDING],
    );
    this.known.clear();
    this.edgesOf.clear();
    this.edgeKeys.clear();
    this.edgesRead.clear();
    const core = rows.map((row) => this.remember(row).job.id);
    await this.readEdges(q, core);
    this.active = rows.filter((row) => row.state !== 'scheduled').map((row) => Number(row.id));
  }

  /**
   * Reads what may have changed since the last pass: the jobs holding slots or waiting for their
   * follow-up (now and in the last pass), the jobs events named, and the originals of new clones.
   */
  private async readChanges(q: QueryFn): Promise<void> {
    const named = this.dirty;
    const created = this.created;
    this.dirty = new Set();
    this.created = new Set();
    const ids = new Set([...named, ...this.active]);
    const rows = await q<JobRow>(
      `select ${JOB_COLUMNS} from jobs j
        where j.state = any($1::text[]) or j.follow_up or j.id = any($2::bigint[]) or j.clone_id = any($3::bigint[])`,
      [EXECUTION_STATES, [...ids], [...created]],
    );
    const seen = new Set<number>();
    const needEdges: number[] = [];
    const active: number[] = [];
    for (const row of rows) {
      const { job, followUp } = this.remember(row);
      seen.add(job.id);
      if (job.state !== 'scheduled' && (!isFinalState(job.state) || followUp)) active.push(job.id);
      // new jobs bring new edges (an edge is always written with its child); a job that is
      // pending again may have been a neighbour whose edges were not all read
      const core = !isFinalState(job.state) || followUp;
      if (created.has(job.id) || (core && !this.edgesRead.has(job.id))) needEdges.push(job.id);
    }
    for (const id of ids) if (!seen.has(id)) this.forget(id);
    this.active = active;
    if (needEdges.length > 0) await this.readEdges(q, needEdges);
  }

  /** Reads every edge touching `ids` (their lists are complete afterwards); returns them. */
  private async readEdges(q: QueryFn, ids: readonly number[]): Promise<DependencyEdge[]> {
    if (ids.length === 0) return [];
    const rows = await q<{ parent_job_id: number; child_job_id: number; dependency: DependencyKind }>(
      `select parent_job_id, child_job_id, dependency from job_dependencies
        where parent_job_id = any($1::bigint[]) or child_job_id = any($1::bigint[])`,
      [ids],
    );
    const edges: DependencyEdge[] = [];
    for (const row of rows) {
      const edge: DependencyEdge = {
        parent: Number(row.parent_job_id),
        child: Number(row.child_job_id),
        kind: row.dependency,
      };
      edges.push(this.addEdge(edge));
    }
    for (const id of ids) this.edgesRead.add(id);
    return edges;
  }

  /** Adds an edge to both ends' lists once; returns the one kept. */
  private addEdge(edge: DependencyEdge): DependencyEdge {
    const key = `${edge.parent}:${edge.child}:${edge.kind}`;
    if (this.edgeKeys.has(key))
      return this.edgesOf.get(edge.parent)!.find((e) => e.child === edge.child && e.kind === edge.kind)!;
    this.edgeKeys.add(key);
    for (const id of [edge.parent, edge.child]) {
      const list = this.edgesOf.get(id);
      if (list) list.push(edge);
      else this.edgesOf.set(id, [edge]);
    }
    return edge;
  }

  /** A job that is gone (deleted): dropped with its edges. */
  private forget(id: number): void {
    this.known.delete(id);
    this.edgesRead.delete(id);
    for (const edge of this.edgesOf.get(id) ?? []) {
      this.edgeKeys.delete(`${edge.parent}:${edge.child}:${edge.kind}`);
      const other = edge.parent === id ? edge.child : edge.parent;
      const list = this.edgesOf.get(other);
      if (list)
        this.edgesOf.set(
          other,
          list.filter((e) => e !== edge),
        );
    }
    this.edgesOf.delete(id);
  }

  private remember(row: JobRow): Cached {
    const cached: Cached = {
      job: this.toJob(row),
      followUp: row.follow_up,
      groupId: row.group_id === null ? null : Number(row.group_id),
    };
    this.known.set(cached.job.id, cached);
    return cached;
  }

  private withImportance(cached: Cached, important: ReadonlySet<string>): SchedulerJob {
    return important.has(`${cached.groupId}\u0000${cached.job.product?.build ?? ''}`)
      ? { ...cached.job, important: true }
      : cached.job;
  }

  /**
   * Builds tagged important in a job group comment (`tag:<build>:important`, openQA's
   * convention); kept until a comment changes or the next full read.
   */
  private async readImportantBuilds(q: QueryFn): Promise<Set<string>> {
    const rows = await q<{ group_id: number; text: string }>(
      "select group_id, text from comments where group_id is not null and text like '%tag:%:important%'",
    );
    const out = new Set<string>();
    for (const row of rows) {
      for (const match of row.text.matchAll(/\btag:([^\s:]+):important\b/g))
        out.add(`${row.group_id}\u0000${match[1]}`);
    }
    this.important = out;
    return out;
  }

  /** The scheduling settings, parsed once per distinct text (the key is the short text itself). */
  private settingsOf(row: JobRow): SchedulingSettings {
    const cached = this.parsed.get(row.sched);
    if (cached) return cached;
    let value: SchedulingSettings;
    try {
      const values = JSON.parse(row.sched) as Array<string | string[] | null>;
      const settings: Record<string, string> = {};
      SCHEDULING_KEYS.forEach((key, i) => {
        const v = values[i];
        if (v !== null && v !== undefined) settings[key] = Array.isArray(v) ? v.join(',') : String(v);
      });
      value = parseSchedulingSettings(settings);
    } catch (error) {
      // validated when the job was created; a row edited by hand must not stop the scheduler
      this.options.log?.warn(
        { jobId: Number(row.id), err: error },
        'invalid scheduling settings; using defaults',
      );
      value = parseSchedulingSettings({});
    }
    if (this.parsed.size >= MAX_PARSED) this.parsed.clear();
    this.parsed.set(row.sched, value);
    return value;
  }

  private toJob(row: JobRow): SchedulerJob {
    const settings = this.settingsOf(row);
    const time = (value: number | null) => (value === null ? null : Number(value));
    return {
      id: Number(row.id),
      state: row.state,
      result: row.result,
      clonedAs: row.clone_id === null ? null : Number(row.clone_id),
      cancelWholeCluster: settings.cancelWholeCluster,
      priority: Number(row.priority),
      createdAt: Number(row.t_created),
      test: row.test,
      workerClasses: settings.workerClasses,
      maxSetupSeconds: settings.maxSetupSeconds,
      maxJobSeconds: settings.maxJobSeconds,
      timeoutScale: settings.timeoutScale,
      retry: settings.retry,
      ancestors: Number(row.ancestors),
      incompleteAncestors: Number(row.incomplete_ancestors),
      slotId: row.slot_id,
      sequenceIndex: row.sequence_index === null ? null : Number(row.sequence_index),
      assignedAt: time(row.t_assigned),
      setupAt: time(row.t_setup),
      startedAt: time(row.t_started),
      finishedAt: time(row.t_finished),
      reason: row.reason,
      product: {
        distri: row.distri,
        version: row.version,
        flavor: row.flavor,
        arch: row.arch,
        build: row.build,
      },
    };
  }

  // --- commit ----------------------------------------------------------------------------------

  async commit(outcome: PassOutcome): Promise<CommitResult> {
    const conflicts: number[] = [];
    // the events of these writes come back to us: they must not wake another pass
    this.ownWrites = new Set([
      ...outcome.changes.map((c) => `${c.jobId}:${c.to.state}`),
      ...outcome.clones.flatMap((plan) => plan.changes.map((c) => `${c.jobId}:${c.to.state}`)),
      ...outcome.assignments.flatMap((a) => a.jobIds.map((id) => `${id}:assigned`)),
    ]);
    // reasons are written only where they changed (compared with what this store last read or
    // wrote; the UPDATE compares again)
    const reasons = new Map<number, string>();
    for (const [id, reason] of outcome.reasons) {
      const cached = this.known.get(id);
      if (!this.started || cached?.job.reason !== reason) reasons.set(id, reason);
    }
    const cloned = await this.database.transaction(async (q) => {
      const at = outcome.now;
      await this.applyChanges(q, outcome.changes, at, conflicts);
      await this.applyAssignments(q, outcome, at, conflicts);
      const maps: Map<number, number>[] = [];
      for (const plan of outcome.clones) maps.push(await this.applyClonePlan(q, plan, at, conflicts));
      if (outcome.priorities.length > 0) {
        await q(
          `update jobs j set priority = x.priority, t_updated = now()
             from unnest($1::bigint[], $2::int[]) as x(id, priority) where j.id = x.id`,
          [outcome.priorities.map((p) => p.jobId), outcome.priorities.map((p) => p.priority)],
        );
      }
      if (reasons.size > 0) {
        // only on jobs still waiting
        await q(
          `update jobs j set reason = x.reason
             from unnest($1::bigint[], $2::text[]) as x(id, reason)
            where j.id = x.id and j.state = 'scheduled' and j.reason is distinct from x.reason`,
          [[...reasons.keys()], [...reasons.values()]],
        );
      }
      if (outcome.followedUp.length > 0) {
        await q('update jobs set follow_up = false where id = any($1::bigint[]) and follow_up', [
          outcome.followedUp,
        ]);
      }
      return maps;
    });
    this.offsets = new Map(outcome.priorityOffsets);
    // what this commit changed is read again by the next pass; reasons are known as written
    for (const change of outcome.changes) this.dirty.add(change.jobId);
    for (const assignment of outcome.assignments) for (const id of assignment.jobIds) this.dirty.add(id);
    for (const plan of outcome.clones) for (const id of plan.cloneOf) this.dirty.add(id);
    for (const map of cloned)
      for (const id of map.values()) {
        this.created.add(id);
        this.dirty.add(id);
      }
    for (const { jobId } of outcome.priorities) this.dirty.add(jobId);
    for (const id of conflicts) this.dirty.add(id);
    for (const [id, reason] of reasons) {
      const cached = this.known.get(id);
      if (cached && cached.job.state === 'scheduled' && !this.dirty.has(id))
        this.known.set(id, { ...cached, job: { ...cached.job, reason } });
    }
    return { conflicts, cloned };
  }

  /**
   * Compare and set: locks the rows (skipping rows another transaction holds) unless the caller
   * did (`locked`), keeps the changes whose job is still in `from` and whose step is legal, writes
   * them with audit rows.
   */
  private async applyChanges(
    q: QueryFn,
    changes: readonly StateChange[],
    at: number,
    conflicts: number[],
    locked?: ReadonlyMap<number, { state: JobState; result: JobResult }>,
  ): Promise<void> {
    if (changes.length === 0) return;
    const current = new Map(
      locked ??
        (await this.lock(
          q,
          changes.map((c) => c.jobId),
        )),
    );
    const apply: StateChange[] = [];
    for (const change of changes) {
      const row = current.get(change.jobId);
      const same = row && row.state === change.from.state && row.result === change.from.result;
      if (!same || !checkTransition(change.from, change.to).ok) {
        conflicts.push(change.jobId);
        continue;
      }
      apply.push(change);
      // a later change of the same job in this commit starts from here
      current.set(change.jobId, { state: change.to.state, result: change.to.result });
    }
    // changeJobStates checks and writes each job once per call: a job changed twice in this commit
    // (handed back to scheduled, then stopped with its cluster) takes one call per step, in order
    const rounds: StateChange[][] = [];
    const steps = new Map<number, number>();
    for (const change of apply) {
      const step = steps.get(change.jobId) ?? 0;
      steps.set(change.jobId, step + 1);
      if (rounds[step]) rounds[step].push(change);
      else rounds[step] = [change];
    }
    // the rows are locked and their state known: changeJobStates need not read them again
    const state = new Map(
      [...new Set(apply.map((c) => c.jobId))].map((id) => {
        const first = apply.find((c) => c.jobId === id)!;
        return [id, { state: first.from.state, result: first.from.result }];
      }),
    );
    for (const round of rounds) {
      await changeJobStates(
        q,
        round.map((c) => ({ id: c.jobId, state: c.to.state, result: c.to.result, reason: c.reason })),
        'scheduler',
        { at, locked: state },
      );
      for (const c of round) state.set(c.jobId, { state: c.to.state, result: c.to.result });
    }
  }

  /** Locks the jobs' rows, skipping rows another transaction holds; their state and result. */
  private async lock(
    q: QueryFn,
    ids: readonly number[],
  ): Promise<Map<number, { state: JobState; result: JobResult; cloneId: number | null }>> {
    const rows = await q<{ id: number; state: JobState; result: JobResult; clone_id: number | null }>(
      'select id, state, result, clone_id from jobs where id = any($1::bigint[]) order by id for update skip locked',
      [[...new Set(ids)]],
    );
    return new Map(
      rows.map((row) => [
        Number(row.id),
        {
          state: row.state,
          result: row.result,
          cloneId: row.clone_id === null ? null : Number(row.clone_id),
        },
      ]),
    );
  }

  private async applyAssignments(
    q: QueryFn,
    outcome: PassOutcome,
    at: number,
    conflicts: number[],
  ): Promise<void> {
    if (outcome.assignments.length === 0) return;
    const jobIds = outcome.assignments.flatMap((a) => a.jobIds);
    const slotIds = outcome.assignments.map((a) => a.slotId);
    const locked = await this.lock(q, jobIds);
    // the slots that exist (kept while this commits) and hold no job
    const free = await q<{ id: string }>(
      `select s.id from slots s
        where s.id = any($1::text[])
          and not exists (select 1 from jobs j where j.slot_id = s.id and j.state = any($2::text[]))
        order by s.id for share of s skip locked`,
      [slotIds, EXECUTION_STATES],
    );
    const usable = new Set(free.map((row) => row.id));
    const ids: number[] = [];
    const slots: string[] = [];
    const positions: number[] = [];
    for (const assignment of outcome.assignments) {
      if (
        !usable.has(assignment.slotId) ||
        assignment.jobIds.some((id) => locked.get(id)?.state !== 'scheduled')
      ) {
        conflicts.push(...assignment.jobIds);
        continue;
      }
      usable.delete(assignment.slotId);
      assignment.jobIds.forEach((id, position) => {
        ids.push(id);
        slots.push(assignment.slotId);
        positions.push(position);
      });
    }
    if (ids.length === 0) return;
    await q(
      `update jobs j set slot_id = x.slot, sequence_index = x.position
         from unnest($1::bigint[], $2::text[], $3::int[]) as x(id, slot, position) where j.id = x.id`,
      [ids, slots, positions],
    );
    await changeJobStates(
      q,
      ids.map((id) => ({ id, state: 'assigned', result: 'none', reason: null })),
      'scheduler',
      { at, locked },
    );
  }

  /** One clone plan whole or not at all (skipped when an original already has a clone). */
  private async applyClonePlan(
    q: QueryFn,
    plan: ClonePlan,
    at: number,
    conflicts: number[],
  ): Promise<Map<number, number>> {
    // the originals and the jobs the plan changes, locked and read once
    const locked = await this.lock(q, [...plan.cloneOf, ...plan.changes.map((c) => c.jobId)]);
    const originals = plan.cloneOf.map((id) => locked.get(id));
    if (originals.some((row) => row === undefined || row.cloneId !== null)) {
      conflicts.push(plan.origin);
      return new Map();
    }
    await this.applyChanges(q, plan.changes, at, conflicts, locked);
    const edges: CloneEdge[] = plan.edges.map((edge) => {
      const child = 'cloneOf' in edge.child ? edge.child.cloneOf : edge.child.job;
      return 'cloneOf' in edge.parent
        ? { child, parent: edge.parent.cloneOf, parentIsOld: false, type: edge.kind }
        : { child, parent: edge.parent.job, parentIsOld: true, type: edge.kind };
    });
    const reasons = new Map(
      plan.cloneOf.map((id) => [id, id === plan.origin ? plan.why : `restarted with job ${plan.origin}`]),
    );
    return insertClones(q, plan.cloneOf, edges, { reasons, wakeScheduler: false });
  }
}
