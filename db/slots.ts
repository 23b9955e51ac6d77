// Scheduler slots in the database (docs/scheduler.md): executors register the places where a job
// (or a directly chained sequence) runs, report that they are alive, and remove them when they
// stop. Registering, removing and a stale slot reporting again wake the scheduler (NOTIFY
// kubeqa_scheduler 'slot-changed', delivered when the caller's transaction commits); an ordinary
// heartbeat does not.
import { EXECUTION_STATES } from '../domain/jobs/state-machine.js';
import type { JobResult, JobState } from '../domain/jobs/states.js';
import type { QueryFn } from './connect.js';
import { SCHEDULER_CHANNEL } from './job-events.js';

export interface SlotSpec {
  readonly id: string;
  /** The Worker pool (a Worker CR's namespace/name, or "local"). */
  readonly pool: string;
  readonly classes: readonly string[];
}

async function wakeScheduler(q: QueryFn): Promise<void> {
  await q('select pg_notify($1, $2)', [SCHEDULER_CHANNEL, 'slot-changed']);
}

/** Registers slots or updates their pool and classes; counts as a report of each. */
export async function registerSlots(q: QueryFn, slots: readonly SlotSpec[]): Promise<void> {
  if (slots.length === 0) return;
  await q(
    `insert into slots (id, pool, classes, last_seen)
     select x.id, x.pool, array(select distinct c from jsonb_array_elements_text(x.classes) c order by c), now()
       from unnest($1::text[], $2::text[], $3::jsonb[]) as x(id, pool, classes)
     on conflict (id) do update set pool = excluded.pool, classes = excluded.classes, last_seen = now()`,
    [slots.map((s) => s.id), slots.map((s) => s.pool), slots.map((s) => JSON.stringify(s.classes))],
  );
  await wakeScheduler(q);
}

/**
 * Slots report that they are alive. Returns the ids that are not registered (the executor should
 * register them again). Wakes the scheduler only when a slot that had gone stale is back.
 */
export async function heartbeatSlots(
  q: QueryFn,
  ids: readonly string[],
  staleAfterMs = 120_000,
): Promise<string[]> {
  if (ids.length === 0) return [];
  const rows = await q<{ id: string; was_stale: boolean }>(
    `with old as (select id, last_seen from slots where id = any($1::text[]) for update)
     update slots s set last_seen = now() from old
      where s.id = old.id
     returning s.id, old.last_seen < now() - make_interval(secs => $2::double precision / 1000) as was_stale`,
    [ids, staleAfterMs],
  );
  if (rows.some((r) => r.was_stale)) await wakeScheduler(q);
  const known = new Set(rows.map((r) => r.id));
  return ids.filter((id) => !known.has(id));
}

/** Removes slots (an executor stops, a pool shrinks); their running jobs become abandoned. */
export async function removeSlots(q: QueryFn, ids: readonly string[]): Promise<void> {
  if (ids.length === 0) return;
  const rows = await q('delete from slots where id = any($1::text[]) returning id', [ids]);
  if (rows.length > 0) await wakeScheduler(q);
}

export interface SlotJob {
  readonly id: number;
  readonly state: JobState;
  readonly result: JobResult;
  readonly sequenceIndex: number;
  readonly test: string;
}

/** The jobs a slot holds, in the order it runs them. */
export async function jobsOfSlot(q: QueryFn, slotId: string): Promise<SlotJob[]> {
  const rows = await q<{
    id: number;
    state: JobState;
    result: JobResult;
    sequence_index: number;
    test: string;
  }>(
    `select id, state, result, coalesce(sequence_index, 0) as sequence_index, test from jobs
      where slot_id = $1 and state = any($2::text[]) order by sequence_index, id`,
    [slotId, EXECUTION_STATES],
  );
  return rows.map((r) => ({
    id: Number(r.id),
    state: r.state,
    result: r.result,
    sequenceIndex: Number(r.sequence_index),
    test: r.test,
  }));
}
