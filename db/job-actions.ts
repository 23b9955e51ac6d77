// What people and programs do to jobs: cancel, restart (clone with dependencies), delete,
// change priority, finish (set_done). Each runs in one transaction and publishes its events.

import { KubeqaError } from '../domain/errors.js';
import { type ClusterJob, restartSet, stopSet } from '../domain/jobs/clusters.js';
import type { MultiSettings } from '../domain/jobs/create-params.js';
import { DependencyGraph, type DependencyKind } from '../domain/jobs/dependency-graph.js';
import { cloneEdges } from '../domain/jobs/restart.js';
import { isOkResult, RESTART_IN_PLACE } from '../domain/jobs/state-machine.js';
import { FINAL_STATES, type JobResult, type JobState } from '../domain/jobs/states.js';
import type { OpenDatabase, QueryFn } from './connect.js';
import { publishJobEvents } from './job-events.js';
import {
  changeJobStates,
  insertJobs,
  type JobRow,
  type NewEdge,
  type NewJob,
  type StateChange,
} from './jobs.js';

const FINAL = FINAL_STATES as readonly string[];
const NOT_STARTED = ['scheduled', 'assigned'];

export function notFound(what: string): KubeqaError {
  return new KubeqaError('KQ_ERR_NOT_FOUND', `${what} does not exist`);
}

async function lockJob(q: QueryFn, id: number) {
  const [job] = await q<{ id: number; state: string; result: string; clone_id: number | null }>(
    'select id, state, result, clone_id from jobs where id = $1 for update',
    [id],
  );
  if (!job) throw notFound(`job ${id}`);
  return job;
}

/**
 * Every job connected to `ids` through dependencies (any direction), locked, as the shared
 * cluster rules (domain/jobs/clusters.ts) want them: a graph and a lookup.
 */
async function cluster(
  q: QueryFn,
  ids: readonly number[],
): Promise<{ graph: DependencyGraph; jobs: Map<number, ClusterJob> }> {
  const rows = await q<{ child_job_id: number; parent_job_id: number; dependency: DependencyKind }>(
    `with recursive c(id) as (select unnest($1::bigint[])
        union select case when d.child_job_id = c.id then d.parent_job_id else d.child_job_id end
          from job_dependencies d join c on d.child_job_id = c.id or d.parent_job_id = c.id)
     select distinct d.child_job_id, d.parent_job_id, d.dependency from job_dependencies d
      where d.child_job_id in (select id from c) or d.parent_job_id in (select id from c)`,
    [ids],
  );
  const all = new Set<number>(ids);
  for (const r of rows) {
    all.add(Number(r.child_job_id));
    all.add(Number(r.parent_job_id));
  }
  const jobRows = await q<{
    id: number;
    state: string;
    result: string;
    clone_id: number | null;
    whole: boolean;
  }>(
    `select id, state, result, clone_id, coalesce(settings->>'PARALLEL_CANCEL_WHOLE_CLUSTER', '1') <> '0' as whole
       from jobs where id = any($1::bigint[]) order by id for update`,
    [[...all]],
  );
  const jobs = new Map<number, ClusterJob>();
  for (const r of jobRows) {
    const id = Number(r.id);
    jobs.set(id, {
      id,
      state: r.state as JobState,
      result: r.result as JobResult,
      clonedAs: r.clone_id,
      cancelWholeCluster: r.whole,
    });
  }
  const graph = new DependencyGraph(
    rows.map((r) => ({ parent: Number(r.parent_job_id), child: Number(r.child_job_id), kind: r.dependency })),
  );
  return { graph, jobs };
}

/**
 * Cancels jobs (`user_cancelled`) and stops the jobs their cancellation reaches (shared rules:
 * children of every kind, parallel clusters): not started → `skipped`, running →
 * `parallel_failed`. Finished jobs stay as they are. Returns how many jobs changed.
 */
export async function cancelJobs(
  database: OpenDatabase,
  ids: readonly number[],
  reason?: string,
): Promise<number> {
  return database.transaction(async (q) => {
    const { graph, jobs } = await cluster(q, ids);
    const changes = new Map<number, StateChange>();
    for (const id of ids) {
      const job = jobs.get(id);
      if (!job || FINAL.includes(job.state)) continue;
      changes.set(id, { id, state: 'cancelled', result: 'user_cancelled', reason: reason ?? null });
      for (const related of stopSet(graph, (x) => jobs.get(x), id)) {
        const other = jobs.get(related);
        if (!other || FINAL.includes(other.state) || changes.has(related)) continue;
        const waiting = NOT_STARTED.includes(other.state);
        changes.set(related, {
          id: related,
          state: 'cancelled',
          result: waiting ? 'skipped' : 'parallel_failed',
          reason: `job ${id} was cancelled`,
        });
      }
    }
    await changeJobStates(q, [...changes.values()]);
    return changes.size;
  });
}

export interface RestartRequest {
  force?: boolean;
  /** Priority of the clones (default: the originals'). */
  prio?: number;
  /** Settings to set on the clones (`set=KEY=VALUE`). */
  set?: Record<string, string>;
  /** clone: false resets finished jobs in place instead of cloning them. */
  clone?: boolean;
  skipParents?: boolean;
  skipChildren?: boolean;
  /** Leave out children that passed (openQA's skip_ok_result_children). */
  skipOkResultChildren?: boolean;
}

export interface RestartResult {
  /** old id → new id, one entry per restarted job (openQA's `result`). */
  mapping: Record<string, number>;
  errors: string[];
}

export async function restartJobs(
  database: OpenDatabase,
  roots: readonly number[],
  r: RestartRequest = {},
): Promise<RestartResult> {
  return database.transaction(async (q) => {
    const errors: string[] = [];
    for (const id of roots) {
      const job = await lockJob(q, id);
      if (NOT_STARTED.includes(job.state)) {
        throw new KubeqaError(
          'KQ_ERR_CONFLICT',
          `job ${id} is still ${job.state}; only started or finished jobs can be restarted`,
          'cancel it, or wait until it runs',
        );
      }
      if (job.clone_id !== null && !r.force) {
        throw new KubeqaError(
          'KQ_ERR_CONFLICT',
          `job ${id} has already been restarted as job ${job.clone_id}`,
          'restart the newer job, or pass force=1',
        );
      }
    }
    const { graph, jobs } = await cluster(q, roots);
    const lookup = (x: number) => jobs.get(x);
    const set = new Set<number>();
    for (const root of roots) {
      for (const id of restartSet(graph, lookup, root, {
        skipParents: r.skipParents,
        skipChildren: r.skipChildren,
      })) {
        const job = jobs.get(id);
        const passedChild =
          r.skipOkResultChildren &&
          !roots.includes(id) &&
          job &&
          FINAL.includes(job.state) &&
          isOkResult(job.result);
        if (!passedChild) set.add(id);
      }
    }
    const chosen = [...set].sort((a, b) => a - b);
    const edges = graph.edges.map((e) => ({ child: e.child, parent: e.parent, type: e.kind }));
    if (r.clone === false) {
      const rows = await q<{ id: number; state: string }>(
        'select id, state from jobs where id = any($1::bigint[]) for update',
        [chosen],
      );
      const unfinished = rows.filter((x) => !FINAL.includes(x.state)).map((x) => x.id);
      if (unfinished.length > 0) {
        throw new KubeqaError(
          'KQ_ERR_CONFLICT',
          `jobs ${unfinished.join(', ')} have not finished`,
          'restart with clone=1 or cancel them first',
        );
      }
      await changeJobStates(
        q,
        chosen.map((id) => ({ id, state: 'scheduled', result: 'none', reason: null })),
        RESTART_IN_PLACE,
      );
      if (r.prio !== undefined)
        await q('update jobs set priority = $2 where id = any($1::bigint[])', [chosen, r.prio]);
      await setSettings(q, chosen, r.set ?? {});
      return { mapping: Object.fromEntries(chosen.map((id) => [String(id), id])), errors };
    }
    const mapping = await insertClones(q, chosen, cloneEdges(new Set(chosen), edges), {
      prio: r.prio,
      set: r.set,
    });
    const originals = await q<{ id: number; state: string }>(
      'select id, state from jobs where id = any($1::bigint[]) order by id',
      [chosen],
    );
    // the old cluster: the restarted job → user_restarted, other running members →
    // parallel_restarted, members still waiting → skipped (shared rules, docs/scheduler.md)
    await changeJobStates(
      q,
      originals
        .filter((o) => !FINAL.includes(o.state))
        .map((o) => ({
          id: Number(o.id),
          state: 'cancelled',
          result: roots.includes(Number(o.id))
            ? 'user_restarted'
            : NOT_STARTED.includes(o.state)
              ? 'skipped'
              : 'parallel_restarted',
          reason: `restarted as job ${mapping.get(Number(o.id))}`,
        })),
    );
    return {
      mapping: Object.fromEntries([...mapping].map(([old, clone]) => [String(old), clone])),
      errors,
    };
  });
}

export interface CloneEdge {
  /** The original of a cloned child. */
  readonly child: number;
  /** The original of a cloned parent, or (parentIsOld) an existing job the clone depends on. */
  readonly parent: number;
  readonly parentIsOld: boolean;
  readonly type: DependencyKind;
}

/**
 * Clones jobs (locked; none may have a clone yet): new scheduled jobs with the originals' settings,
 * product, group, priority and input assets, dependencies as `edges` say, `ancestors + 1`, and
 * `incomplete_ancestors + 1` when the original ended incomplete (else 0); each original gets its
 * `clone_id`. Returns original id → clone id. Publishes job.created (waking the scheduler unless
 * `wakeScheduler` is false).
 */
export async function insertClones(
  q: QueryFn,
  ids: readonly number[],
  edges: readonly CloneEdge[],
  options: {
    prio?: number;
    set?: Record<string, string>;
    reasons?: ReadonlyMap<number, string>;
    wakeScheduler?: boolean;
  } = {},
): Promise<Map<number, number>> {
  const originals = await q<
    Pick<
      JobRow,
      | 'id'
      | 'test'
      | 'distri'
      | 'version'
      | 'flavor'
      | 'arch'
      | 'build'
      | 'machine'
      | 'group_id'
      | 'priority'
      | 'scheduled_product_id'
      | 'result'
      | 'settings'
    > & { ancestors: number; incomplete_ancestors: number }
  >(
    `select id, test, distri, version, flavor, arch, build, machine, group_id, priority, scheduled_product_id,
            result, ancestors, incomplete_ancestors, settings
       from jobs where id = any($1::bigint[]) order by id for update`,
    [ids],
  );
  const assetRows = await q<{ job_id: number; type: string; name: string }>(
    `select ja.job_id, a.type, a.name from jobs_assets ja join assets a on a.id = ja.asset_id
      where ja.job_id = any($1::bigint[]) and not ja.created_by`,
    [ids],
  );
  const index = new Map(originals.map((o, i) => [Number(o.id), i]));
  const newJobs: NewJob[] = originals.map((o) => {
    const settings: MultiSettings = {};
    for (const [k, v] of Object.entries(o.settings ?? {})) settings[k] = Array.isArray(v) ? v : [v];
    for (const [k, v] of Object.entries(options.set ?? {})) settings[k] = [v];
    return {
      test: o.test,
      distri: o.distri,
      version: o.version,
      flavor: o.flavor,
      arch: o.arch,
      build: o.build,
      machine: o.machine,
      groupId: o.group_id,
      priority: options.prio ?? o.priority,
      scheduledProductId: o.scheduled_product_id,
      settings,
      assets: assetRows
        .filter((a) => Number(a.job_id) === Number(o.id))
        .map((a) => ({ type: a.type, name: a.name })),
    };
  });
  const newEdges: NewEdge[] = edges.map((e) =>
    e.parentIsOld
      ? { child: index.get(e.child) as number, parentJobId: e.parent, type: e.type }
      : { child: index.get(e.child) as number, parent: index.get(e.parent) as number, type: e.type },
  );
  const newIds = await insertJobs(q, newJobs, newEdges, { wakeScheduler: options.wakeScheduler });
  await q(
    `update jobs j set clone_id = x.new_id, t_updated = now()
       from unnest($1::bigint[], $2::bigint[]) as x(id, new_id) where j.id = x.id;`,
    [originals.map((o) => o.id), newIds],
  );
  await q(
    `update jobs j set ancestors = x.ancestors, incomplete_ancestors = x.incomplete, reason = x.reason
       from unnest($1::bigint[], $2::int[], $3::int[], $4::text[]) as x(id, ancestors, incomplete, reason)
      where j.id = x.id`,
    [
      newIds,
      originals.map((o) => Number(o.ancestors) + 1),
      originals.map((o) => (o.result === 'incomplete' ? Number(o.incomplete_ancestors) + 1 : 0)),
      originals.map((o) => options.reasons?.get(Number(o.id)) ?? null),
    ],
  );
  return new Map(originals.map((o, i) => [Number(o.id), newIds[i] as number]));
}

async function setSettings(q: QueryFn, ids: readonly number[], set: Record<string, string>): Promise<void> {
  if (Object.keys(set).length === 0) return;
  await q('update jobs set settings = settings || $2::jsonb where id = any($1::bigint[])', [
    ids,
    JSON.stringify(set),
  ]);
}

export async function deleteJob(database: OpenDatabase, id: number): Promise<void> {
  await database.transaction(async (q) => {
    const rows = await q('delete from jobs where id = $1 returning id', [id]);
    if (rows.length === 0) throw notFound(`job ${id}`);
    await q('update jobs set clone_id = null where clone_id = $1', [id]);
    await publishJobEvents(q, [{ type: 'job.deleted', ids: [id] }]);
  });
}

export async function setPriority(database: OpenDatabase, id: number, prio: number): Promise<void> {
  const rows = await database.query(
    'update jobs set priority = $2, t_updated = now() where id = $1 returning id',
    [id, prio],
  );
  if (rows.length === 0) throw notFound(`job ${id}`);
}

/** The runner's final word: state done with a result (computed by the runner or given). */
export async function setDone(
  database: OpenDatabase,
  id: number,
  result: string,
  reason?: string,
): Promise<void> {
  await database.transaction(async (q) => {
    const job = await lockJob(q, id);
    if (FINAL.includes(job.state))
      throw new KubeqaError('KQ_ERR_CONFLICT', `job ${id} is already ${job.state}`);
    await changeJobStates(q, [{ id, state: 'done', result, reason: reason ?? null }], 'runner');
  });
}
