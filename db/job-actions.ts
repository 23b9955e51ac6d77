// What people and programs do to jobs: cancel, restart (clone with dependencies), delete,
// change priority, finish (set_done). Each runs in one transaction and publishes its events.

import type { JobSettings } from '../domain/db/schema.js';
import { KubeqaError } from '../domain/errors.js';
import type { MultiSettings } from '../domain/jobs/create-params.js';
import type { DependencyType, Edge } from '../domain/jobs/dependencies.js';
import { type ClusterJob, cloneEdges, type RestartOptions, restartSet } from '../domain/jobs/restart.js';
import { FINAL_STATES, type JobState } from '../domain/jobs/states.js';
import type { OpenDatabase, QueryFn } from './connect.js';
import { publishJobEvents } from './job-events.js';
import { changeJobStates, insertJobs, type NewEdge, type NewJob } from './jobs.js';

const FINAL = FINAL_STATES as readonly string[];

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

/** Every job connected to `ids` through dependencies (any direction), with the edges among them. */
async function cluster(
  q: QueryFn,
  ids: readonly number[],
): Promise<{ jobs: Map<number, ClusterJob>; edges: Edge<number>[] }> {
  const rows = await q<{ child_job_id: number; parent_job_id: number; dependency: DependencyType }>(
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
  const jobRows = await q<{ id: number; state: string; result: string; clone_id: number | null }>(
    'select id, state, result, clone_id from jobs where id = any($1::bigint[])',
    [[...all]],
  );
  return {
    jobs: new Map(
      jobRows.map((r) => [
        Number(r.id),
        { id: Number(r.id), state: r.state, result: r.result, cloneId: r.clone_id },
      ]),
    ),
    edges: rows.map((r) => ({
      child: Number(r.child_job_id),
      parent: Number(r.parent_job_id),
      type: r.dependency,
    })),
  };
}

/** Cancels a job that has not finished, and the not-yet-finished jobs that depend on it. Returns how many. */
export async function cancelJobs(
  database: OpenDatabase,
  ids: readonly number[],
  reason?: string,
): Promise<number> {
  return database.transaction(async (q) => {
    const rows = await q<{ id: number; state: string; is_root: boolean }>(
      `with recursive d(id) as (select unnest($1::bigint[])
          union select jd.child_job_id from job_dependencies jd join d on jd.parent_job_id = d.id)
       select j.id, j.state, j.id = any($1::bigint[]) as is_root from jobs j where j.id in (select id from d) for update`,
      [ids],
    );
    const changes = rows
      .filter((r) => !FINAL.includes(r.state))
      .map((r) => ({
        id: Number(r.id),
        state: 'cancelled' as JobState,
        result: r.is_root ? 'user_cancelled' : 'skipped',
        reason: r.is_root ? (reason ?? null) : 'a job it depends on was cancelled',
      }));
    await changeJobStates(q, changes);
    return changes.length;
  });
}

export interface RestartRequest extends RestartOptions {
  force?: boolean;
  /** Priority of the clones (default: the originals'). */
  prio?: number;
  /** Settings to set on the clones (`set=KEY=VALUE`). */
  set?: Record<string, string>;
  /** clone: false resets finished jobs in place instead of cloning them. */
  clone?: boolean;
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
      if (job.clone_id !== null && !r.force) {
        throw new KubeqaError(
          'KQ_ERR_CONFLICT',
          `job ${id} has already been restarted as job ${job.clone_id}`,
          'restart the newer job, or pass force=1',
        );
      }
    }
    const { jobs, edges } = await cluster(q, roots);
    const chosen = [...restartSet(roots, jobs, edges, r)].sort((a, b) => a - b);
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
      await q(
        `update jobs set state = 'scheduled', result = 'none', reason = null, t_started = null, t_finished = null,
                assigned_worker_id = null, priority = coalesce($2, priority), t_updated = now()
          where id = any($1::bigint[])`,
        [chosen, r.prio ?? null],
      );
      await setSettings(q, chosen, r.set ?? {});
      await publishJobEvents(
        q,
        chosen.map((id) => ({ type: 'job.state', id, state: 'scheduled', result: 'none' })),
      );
      return { mapping: Object.fromEntries(chosen.map((id) => [String(id), id])), errors };
    }
    const originals = await q<{
      id: number;
      test: string;
      distri: string;
      version: string;
      flavor: string;
      arch: string;
      build: string;
      machine: string;
      group_id: number | null;
      priority: number;
      scheduled_product_id: number | null;
      state: string;
      settings: JobSettings;
    }>(
      `select id, test, distri, version, flavor, arch, build, machine, group_id, priority, scheduled_product_id, state, settings
         from jobs where id = any($1::bigint[]) order by id for update`,
      [chosen],
    );
    const assetRows = await q<{ job_id: number; type: string; name: string }>(
      `select ja.job_id, a.type, a.name from jobs_assets ja join assets a on a.id = ja.asset_id
        where ja.job_id = any($1::bigint[]) and not ja.created_by`,
      [chosen],
    );
    const index = new Map(originals.map((o, i) => [Number(o.id), i]));
    const newJobs: NewJob[] = originals.map((o) => {
      const settings: MultiSettings = {};
      for (const [k, v] of Object.entries(o.settings ?? {})) settings[k] = Array.isArray(v) ? v : [v];
      for (const [k, v] of Object.entries(r.set ?? {})) settings[k] = [v];
      return {
        test: o.test,
        distri: o.distri,
        version: o.version,
        flavor: o.flavor,
        arch: o.arch,
        build: o.build,
        machine: o.machine,
        groupId: o.group_id,
        priority: r.prio ?? o.priority,
        scheduledProductId: o.scheduled_product_id,
        settings,
        assets: assetRows
          .filter((a) => Number(a.job_id) === Number(o.id))
          .map((a) => ({ type: a.type, name: a.name })),
      };
    });
    const newEdges: NewEdge[] = cloneEdges(new Set(chosen), edges).map((e) =>
      e.parentIsOld
        ? { child: index.get(e.child) as number, parentJobId: e.parent, type: e.type }
        : { child: index.get(e.child) as number, parent: index.get(e.parent) as number, type: e.type },
    );
    const newIds = await insertJobs(q, newJobs, newEdges);
    await q(
      'update jobs j set clone_id = x.new_id, t_updated = now() from unnest($1::bigint[], $2::bigint[]) as x(id, new_id) where j.id = x.id',
      [originals.map((o) => o.id), newIds],
    );
    await changeJobStates(
      q,
      originals
        .filter((o) => !FINAL.includes(o.state))
        .map((o) => ({
          id: Number(o.id),
          state: 'cancelled',
          result: 'user_restarted',
          reason: 'restarted by a user',
        })),
    );
    return {
      mapping: Object.fromEntries(originals.map((o, i) => [String(o.id), newIds[i] as number])),
      errors,
    };
  });
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
    await changeJobStates(q, [{ id, state: 'done', result, reason: reason ?? null }]);
  });
}
