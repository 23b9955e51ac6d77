// The scheduler's store on the server's PostgreSQL schema (the same code runs on the embedded
// PGlite). What it guarantees is written down in docs/scheduler.md ("What the PostgreSQL store must
// do"): one transaction per commit, compare-and-set on every row it changes, rows that another
// transaction holds are skipped and reported as conflicts (never waited for), one slot one job
// (also enforced by partial unique indexes), an audit row per transition, wake-ups through
// LISTEN/NOTIFY on kubeqa_scheduler. Starvation offsets live in this process's memory, as in
// openQA: a new leader starts without them, which only delays protection.
import type { OpenDatabase, QueryFn } from '../../db/connect.js';
import { type CloneEdge, insertClones } from '../../db/job-actions.js';
import { SCHEDULER_CHANNEL } from '../../db/job-events.js';
import { changeJobStates, shownSettings } from '../../db/jobs.js';
import type { JobSettings } from '../../domain/db/schema.js';
import type { DependencyEdge, DependencyKind } from '../../domain/jobs/dependency-graph.js';
import { checkTransition, EXECUTION_STATES } from '../../domain/jobs/state-machine.js';
import type { JobResult, JobState } from '../../domain/jobs/states.js';
import type { ClonePlan } from './actions.js';
import type { CommitResult, PassOutcome, SchedulerSnapshot, SchedulerStore, StoreEvent } from './port.js';
import { parseSchedulingSettings, type SchedulingSettings } from './settings.js';
import type { SchedulerJob, Slot, StateChange } from './types.js';

const STORE_EVENTS: readonly StoreEvent[] = ['job-created', 'job-finished', 'job-changed', 'slot-changed'];

interface JobRow {
  id: number;
  state: JobState;
  result: JobResult;
  reason: string | null;
  priority: number;
  clone_id: number | null;
  test: string;
  distri: string;
  version: string;
  flavor: string;
  arch: string;
  build: string;
  settings: JobSettings;
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

const JOB_COLUMNS = `j.id, j.state, j.result, j.reason, j.priority, j.clone_id, j.group_id, j.test, j.distri,
  j.version, j.flavor, j.arch, j.build, j.settings, j.slot_id, j.sequence_index, j.ancestors,
  j.incomplete_ancestors, ${['t_created', 't_assigned', 't_setup', 't_started', 't_finished'].map((c) => ms(`j.${c}`, c)).join(', ')}`;

export interface PgStoreLog {
  warn(details: object, message: string): void;
}

export interface PgStoreOptions {
  readonly log?: PgStoreLog;
}

export class PgSchedulerStore implements SchedulerStore {
  private offsets = new Map<number, number>();
  private readonly listeners = new Set<(event: StoreEvent) => void>();
  private unlisten: (() => Promise<void>) | null = null;
  /** Parsed scheduling settings by job id (settings of a job do not change while it is pending). */
  private readonly parsed = new Map<number, { source: string; value: SchedulingSettings }>();

  constructor(
    private readonly database: OpenDatabase,
    private readonly options: PgStoreOptions = {},
  ) {}

  /** Starts listening for wake-ups; call before the loop starts. */
  async start(): Promise<void> {
    if (this.unlisten) return;
    this.unlisten = await this.database.listen(
      SCHEDULER_CHANNEL,
      (payload) => {
        const event = STORE_EVENTS.find((e) => e === payload);
        if (event) this.emit(event);
      },
      // notifications may have been missed while the connection was down: re-read everything
      { onReconnect: () => this.emit('slot-changed') },
    );
  }

  async close(): Promise<void> {
    const stop = this.unlisten;
    this.unlisten = null;
    await stop?.();
  }

  subscribe(listener: (event: StoreEvent) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  private emit(event: StoreEvent): void {
    for (const listener of this.listeners) listener(event);
  }

  // --- load ------------------------------------------------------------------------------------

  async load(_now: number, focus: readonly number[] = []): Promise<SchedulerSnapshot> {
    const q = this.database.query;
    const have = new Map<number, JobRow>();
    // every pending job and every final one not followed up yet
    const core = await q<JobRow>(
      `select ${JOB_COLUMNS} from jobs j where j.state not in ('done', 'cancelled') or j.follow_up`,
    );
    for (const row of core) have.set(Number(row.id), row);
    // the whole dependency component of each focus job (a requested cancel or restart)
    const component =
      focus.length === 0
        ? []
        : await q<{ id: number }>(
            `with recursive c(id) as (select unnest($1::bigint[])
               union select case when d.child_job_id = c.id then d.parent_job_id else d.child_job_id end
                 from job_dependencies d join c on d.child_job_id = c.id or d.parent_job_id = c.id)
             select id from c`,
            [focus],
          );
    const ids = new Set([...have.keys(), ...component.map((row) => Number(row.id))]);
    // every edge touching those jobs, and the jobs at their other ends
    const edgeRows = await q<{ parent_job_id: number; child_job_id: number; dependency: DependencyKind }>(
      `select parent_job_id, child_job_id, dependency from job_dependencies
        where parent_job_id = any($1::bigint[]) or child_job_id = any($1::bigint[])`,
      [[...ids]],
    );
    const edges = edgeRows.map(
      (row): DependencyEdge => ({
        parent: Number(row.parent_job_id),
        child: Number(row.child_job_id),
        kind: row.dependency,
      }),
    );
    for (const edge of edges) ids.add(edge.parent).add(edge.child);
    const missing = [...ids].filter((id) => !have.has(id));
    if (missing.length > 0) {
      const rows = await q<JobRow>(`select ${JOB_COLUMNS} from jobs j where j.id = any($1::bigint[])`, [
        missing,
      ]);
      for (const row of rows) have.set(Number(row.id), row);
    }
    const important = await this.importantBuilds(q);
    const jobs = [...have.values()].map((row) =>
      this.toJob(row, important.has(`${row.group_id}\u0000${row.build}`)),
    );
    const slots = await q<{ id: string; pool: string; classes: string[]; last_seen: number }>(
      `select id, pool, classes, ${ms('last_seen', 'last_seen')} from slots`,
    );
    for (const id of this.offsets.keys()) if (!have.has(id)) this.offsets.delete(id);
    return {
      jobs,
      edges,
      slots: slots.map(
        (row): Slot => ({
          id: row.id,
          pool: row.pool,
          classes: [...row.classes].sort(),
          lastSeen: Number(row.last_seen),
        }),
      ),
      finished: core
        .filter((row) => row.state === 'done' || row.state === 'cancelled')
        .map((row) => Number(row.id)),
      priorityOffsets: new Map(this.offsets),
    };
  }

  /** Builds tagged important in a job group comment (`tag:<build>:important`, openQA's convention). */
  private async importantBuilds(q: QueryFn): Promise<Set<string>> {
    const rows = await q<{ group_id: number; text: string }>(
      "select group_id, text from comments where group_id is not null and text like '%tag:%:important%'",
    );
    const out = new Set<string>();
    for (const row of rows) {
      for (const match of row.text.matchAll(/\btag:([^\s:]+):important\b/g))
        out.add(`${row.group_id}\u0000${match[1]}`);
    }
    return out;
  }

  private settingsOf(row: JobRow): SchedulingSettings {
    const id = Number(row.id);
    const source = JSON.stringify(row.settings ?? {});
    const cached = this.parsed.get(id);
    if (cached && cached.source === source) return cached.value;
    let value: SchedulingSettings;
    try {
      value = parseSchedulingSettings(shownSettings(row.settings));
    } catch (error) {
      // validated when the job was created; a row edited by hand must not stop the scheduler
      this.options.log?.warn({ jobId: id, err: error }, 'invalid scheduling settings; using defaults');
      value = parseSchedulingSettings({});
    }
    if (row.state === 'done' || row.state === 'cancelled') this.parsed.delete(id);
    else this.parsed.set(id, { source, value });
    return value;
  }

  private toJob(row: JobRow, important: boolean): SchedulerJob {
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
      ...(important ? { important: true } : {}),
    };
  }

  // --- commit ----------------------------------------------------------------------------------

  async commit(outcome: PassOutcome): Promise<CommitResult> {
    const conflicts: number[] = [];
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
      if (outcome.reasons.size > 0) {
        // written only where it changed, and only on jobs still waiting
        await q(
          `update jobs j set reason = x.reason
             from unnest($1::bigint[], $2::text[]) as x(id, reason)
            where j.id = x.id and j.state = 'scheduled' and j.reason is distinct from x.reason`,
          [[...outcome.reasons.keys()], [...outcome.reasons.values()]],
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
    return { conflicts, cloned };
  }

  /**
   * Compare and set: locks the rows (skipping rows another transaction holds), keeps the changes
   * whose job is still in `from` and whose step is legal, writes them with audit rows.
   */
  private async applyChanges(
    q: QueryFn,
    changes: readonly StateChange[],
    at: number,
    conflicts: number[],
  ): Promise<void> {
    if (changes.length === 0) return;
    const rows = await q<{ id: number; state: JobState; result: JobResult }>(
      'select id, state, result from jobs where id = any($1::bigint[]) order by id for update skip locked',
      [changes.map((c) => c.jobId)],
    );
    const current = new Map(rows.map((row) => [Number(row.id), row]));
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
      current.set(change.jobId, { id: change.jobId, state: change.to.state, result: change.to.result });
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
    for (const round of rounds) {
      await changeJobStates(
        q,
        round.map((c) => ({ id: c.jobId, state: c.to.state, result: c.to.result, reason: c.reason })),
        'scheduler',
        { at },
      );
    }
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
    const locked = await q<{ id: number; state: JobState }>(
      'select id, state from jobs where id = any($1::bigint[]) order by id for update skip locked',
      [jobIds],
    );
    const waiting = new Set(locked.filter((row) => row.state === 'scheduled').map((row) => Number(row.id)));
    const known = await q<{ id: string }>(
      'select id from slots where id = any($1::text[]) order by id for share skip locked',
      [slotIds],
    );
    const busy = await q<{ slot_id: string }>(
      'select distinct slot_id from jobs where slot_id = any($1::text[]) and state = any($2::text[])',
      [slotIds, EXECUTION_STATES],
    );
    const usable = new Set(known.map((row) => row.id));
    for (const row of busy) usable.delete(row.slot_id);
    const ids: number[] = [];
    const slots: string[] = [];
    const positions: number[] = [];
    for (const assignment of outcome.assignments) {
      if (!usable.has(assignment.slotId) || assignment.jobIds.some((id) => !waiting.has(id))) {
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
      { at },
    );
  }

  /** One clone plan whole or not at all (skipped when an original already has a clone). */
  private async applyClonePlan(
    q: QueryFn,
    plan: ClonePlan,
    at: number,
    conflicts: number[],
  ): Promise<Map<number, number>> {
    const originals = await q<{ id: number; clone_id: number | null }>(
      'select id, clone_id from jobs where id = any($1::bigint[]) order by id for update skip locked',
      [plan.cloneOf],
    );
    if (originals.length < plan.cloneOf.length || originals.some((row) => row.clone_id !== null)) {
      conflicts.push(plan.origin);
      return new Map();
    }
    await this.applyChanges(q, plan.changes, at, conflicts);
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
