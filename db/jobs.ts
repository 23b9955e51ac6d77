// Jobs in the database: bulk creation (one statement per table, whatever the number of jobs),
// reading them in openQA's JSON shape, listing with filters, and state changes that publish
// events. All functions take the query function of a transaction or of the pool.

import type { JobSettings } from '../domain/db/schema.js';
import { KubeqaError } from '../domain/errors.js';
import type { MultiSettings } from '../domain/jobs/create-params.js';
import type { DependencyType } from '../domain/jobs/dependencies.js';
import { assertTransition, RESTART_IN_PLACE } from '../domain/jobs/state-machine.js';
import type { JobResult, JobState } from '../domain/jobs/states.js';
import type { QueryFn } from './connect.js';
import { type JobEvent, publishJobEvents } from './job-events.js';

export interface NewJob {
  test: string;
  distri: string;
  version: string;
  flavor: string;
  arch: string;
  build: string;
  machine: string;
  groupId: number | null;
  priority: number;
  scheduledProductId: number | null;
  settings: MultiSettings;
  assets: { type: string; name: string }[];
}

export interface NewEdge {
  /** Index into the new jobs, or an existing job id with `parentJobId`. */
  child: number;
  parent?: number;
  parentJobId?: number;
  type: DependencyType;
}

/** Settings as stored on the job row: one value as a string, several as an array. */
export function storedSettings(settings: MultiSettings): JobSettings {
  const out: JobSettings = {};
  for (const [key, values] of Object.entries(settings))
    out[key] = values.length === 1 ? (values[0] as string) : values;
  return out;
}

/** Settings as the API shows them (openQA's shape): several values joined by commas. */
export function shownSettings(settings: JobSettings | null): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [key, value] of Object.entries(settings ?? {}))
    out[key] = Array.isArray(value) ? value.join(',') : value;
  return out;
}

/** Column values of a job from its settings. */
export function jobColumns(
  settings: MultiSettings,
): Pick<NewJob, 'test' | 'distri' | 'version' | 'flavor' | 'arch' | 'build' | 'machine'> {
  const one = (k: string) => settings[k]?.at(-1) ?? '';
  return {
    test: one('TEST'),
    distri: one('DISTRI'),
    version: one('VERSION'),
    flavor: one('FLAVOR'),
    arch: one('ARCH'),
    build: one('BUILD'),
    machine: one('MACHINE'),
  };
}

/** Inserts jobs, their settings, dependencies and assets; returns the new ids in input order. */
export async function insertJobs(
  q: QueryFn,
  jobs: readonly NewJob[],
  edges: readonly NewEdge[] = [],
  options: { wakeScheduler?: boolean } = {},
): Promise<number[]> {
  if (jobs.length === 0) return [];
  const idRows = await q<{ id: number }>(
    "select nextval(pg_get_serial_sequence('jobs', 'id')) as id from generate_series(1, $1)",
    [jobs.length],
  );
  const ids = idRows.map((r) => Number(r.id));
  const col = <T>(f: (j: NewJob) => T) => jobs.map(f);
  await q(
    `insert into jobs (id, test, distri, version, flavor, arch, build, machine, group_id, priority, scheduled_product_id, settings)
     select * from unnest($1::bigint[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[],
                          $8::text[], $9::int[], $10::int[], $11::int[], $12::jsonb[])`,
    [
      ids,
      col((j) => j.test),
      col((j) => j.distri),
      col((j) => j.version),
      col((j) => j.flavor),
      col((j) => j.arch),
      col((j) => j.build),
      col((j) => j.machine),
      col((j) => j.groupId),
      col((j) => j.priority),
      col((j) => j.scheduledProductId),
      col((j) => JSON.stringify(storedSettings(j.settings))),
    ],
  );
  if (edges.length > 0) {
    await q(
      `insert into job_dependencies (child_job_id, parent_job_id, dependency)
       select * from unnest($1::bigint[], $2::bigint[], $3::text[]) on conflict do nothing`,
      [
        edges.map((e) => ids[e.child]),
        edges.map((e) => (e.parentJobId !== undefined ? e.parentJobId : ids[e.parent as number])),
        edges.map((e) => e.type),
      ],
    );
  }
  const aJob: number[] = [];
  const aType: string[] = [];
  const aName: string[] = [];
  jobs.forEach((job, i) => {
    for (const a of job.assets) {
      aJob.push(ids[i] as number);
      aType.push(a.type);
      aName.push(a.name);
    }
  });
  if (aJob.length > 0) {
    await q(
      `insert into assets (type, name) select distinct t, n from unnest($1::text[], $2::text[]) as x(t, n)
       on conflict (type, name) do nothing`,
      [aType, aName],
    );
    await q(
      `insert into jobs_assets (job_id, asset_id)
       select x.j, a.id from unnest($1::bigint[], $2::text[], $3::text[]) as x(j, t, n)
       join assets a on a.type = x.t and a.name = x.n on conflict do nothing`,
      [aJob, aType, aName],
    );
    await q(
      `update assets a set last_use_job_id = x.j, t_updated = now()
         from (select t, n, max(j) as j from unnest($1::bigint[], $2::text[], $3::text[]) as x(j, t, n) group by t, n) x
        where a.type = x.t and a.name = x.n`,
      [aJob, aType, aName],
    );
  }
  await publishJobEvents(q, [{ type: 'job.created', ids }], options);
  return ids;
}

export interface JobRow {
  id: number;
  state: string;
  result: string;
  reason: string | null;
  priority: number;
  clone_id: number | null;
  group_id: number | null;
  group_name: string | null;
  test: string;
  distri: string;
  version: string;
  flavor: string;
  arch: string;
  build: string;
  machine: string;
  assigned_worker_id: number | null;
  blocked_by_id: number | null;
  scheduled_product_id: number | null;
  settings: JobSettings;
  t_created: Date;
  t_started: Date | null;
  t_finished: Date | null;
  t_updated: Date;
}

/** openQA's time format: UTC, seconds, no zone suffix. */
export function openqaTime(date: Date | null): string | null {
  return date ? date.toISOString().slice(0, 19) : null;
}

export function jobName(
  j: Pick<JobRow, 'distri' | 'version' | 'flavor' | 'arch' | 'build' | 'test' | 'machine'>,
): string {
  const parts = [j.distri, j.version, j.flavor, j.arch].filter((p) => p);
  if (j.build) parts.push(`Build${j.build}`);
  parts.push(j.test);
  return `${parts.join('-')}${j.machine ? `@${j.machine}` : ''}`;
}

const DEP_LABEL: Record<string, string> = {
  chained: 'Chained',
  directly_chained: 'Directly chained',
  parallel: 'Parallel',
};

export interface JobFilters {
  ids?: number[];
  state?: string[];
  result?: string[];
  distri?: string;
  version?: string;
  flavor?: string;
  build?: string;
  test?: string[];
  arch?: string;
  machine?: string;
  groupId?: number;
  scheduledProductId?: number;
  latest?: boolean;
  limit?: number;
  offset?: number;
}

/** The SQL selecting the ids of the jobs that match, newest first. */
function jobIdsQuery(f: JobFilters): { sql: string; params: unknown[] } {
  const where: string[] = [];
  const params: unknown[] = [];
  const add = (clause: (p: string) => string, value: unknown) => {
    params.push(value);
    where.push(clause(`$${params.length}`));
  };
  if (f.ids) add((p) => `j.id = any(${p}::bigint[])`, f.ids);
  if (f.state?.length) add((p) => `j.state = any(${p}::text[])`, f.state);
  if (f.result?.length) add((p) => `j.result = any(${p}::text[])`, f.result);
  if (f.distri !== undefined) add((p) => `j.distri = ${p}`, f.distri);
  if (f.version !== undefined) add((p) => `j.version = ${p}`, f.version);
  if (f.flavor !== undefined) add((p) => `j.flavor = ${p}`, f.flavor);
  if (f.build !== undefined) add((p) => `j.build = ${p}`, f.build);
  if (f.test?.length) add((p) => `j.test = any(${p}::text[])`, f.test);
  if (f.arch !== undefined) add((p) => `j.arch = ${p}`, f.arch);
  if (f.machine !== undefined) add((p) => `j.machine = ${p}`, f.machine);
  if (f.groupId !== undefined) add((p) => `j.group_id = ${p}`, f.groupId);
  if (f.scheduledProductId !== undefined) add((p) => `j.scheduled_product_id = ${p}`, f.scheduledProductId);
  const whereSql = where.length ? `where ${where.join(' and ')}` : '';
  let sql: string;
  if (f.latest) {
    sql = `select id from (select distinct on (j.distri, j.version, j.flavor, j.arch, j.test, j.machine) j.id
             from jobs j ${whereSql}
            order by j.distri, j.version, j.flavor, j.arch, j.test, j.machine, j.id desc) x order by id desc`;
  } else {
    sql = `select j.id from jobs j ${whereSql} order by j.id desc`;
  }
  if (f.limit !== undefined) {
    params.push(f.limit);
    sql += ` limit $${params.length}`;
  }
  if (f.offset !== undefined) {
    params.push(f.offset);
    sql += ` offset $${params.length}`;
  }
  return { sql, params };
}

/** Ids of the jobs that match, newest first. */
export async function listJobIds(q: QueryFn, f: JobFilters): Promise<number[]> {
  const { sql, params } = jobIdsQuery(f);
  return (await q<{ id: number }>(sql, params)).map((r) => Number(r.id));
}

const TIME = (column: string) => `to_char(${column} at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS')`;

export type JobJson = Record<string, unknown> & { id: number };

/** A job row as the list query reads it: settings and times as the text PostgreSQL sends. */
type ListRow = Omit<
  JobRow,
  'scheduled_product_id' | 'settings' | 't_created' | 't_started' | 't_finished' | 't_updated'
> & {
  settings: string;
  t_created: string;
  t_started: string | null;
  t_finished: string | null;
};

const str = (v: string | null) => (v === null ? 'null' : JSON.stringify(v));
const num = (v: number | null) => (v === null ? 'null' : String(v));

/** Settings text as stored (jsonb) → as shown: arrays of values joined by commas. */
function settingsText(text: string): string {
  if (!text.includes('[')) return text;
  return JSON.stringify(shownSettings(JSON.parse(text) as JobSettings));
}

/**
 * The matching jobs as the JSON text of an array in openQA's shape (settings, assets, parents,
 * children), newest first. Three statements whatever the number of jobs; the settings' JSON
 * text from PostgreSQL is spliced in unparsed, so listing 10,000 jobs stays cheap.
 */
export async function listJobsJsonText(q: QueryFn, f: JobFilters): Promise<string> {
  return (await listJobsPage(q, f)).text;
}

/**
 * One page of the list (see listJobsJsonText) and whether more jobs match beyond it: one row more
 * than the limit is read and dropped, instead of a second query for the next page.
 */
export async function listJobsPage(q: QueryFn, f: JobFilters): Promise<{ text: string; more: boolean }> {
  const { sql, params } = jobIdsQuery(f.limit === undefined ? f : { ...f, limit: f.limit + 1 });
  const rows = await q<ListRow>(
    `select j.id, j.state, j.result, j.reason, j.priority, j.clone_id, j.group_id, g.name as group_name, j.test,
            j.distri, j.version, j.flavor, j.arch, j.build, j.machine, j.assigned_worker_id, j.blocked_by_id,
            j.settings::text as settings, ${TIME('j.t_created')} as t_created, ${TIME('j.t_started')} as t_started,
            ${TIME('j.t_finished')} as t_finished
       from (${sql}) sel join jobs j on j.id = sel.id left join job_groups g on g.id = j.group_id
      order by j.id desc`,
    params,
  );
  const more = f.limit !== undefined && rows.length > f.limit;
  if (more) rows.pop();
  if (rows.length === 0) return { text: '[]', more };
  // one array literal as text: pg would quote each of 10,000 elements of a JavaScript array
  const ids = `{${rows.map((r) => r.id).join(',')}}`;
  // dependencies and assets of these jobs in one statement: kind 'd' (a = child, b = parent,
  // c = type) or 'a' (a = job, c = asset type, n = name)
  const related = await q<{ kind: string; a: number; b: number | null; c: string; n: string | null }>(
    `select 'd' as kind, child_job_id as a, parent_job_id as b, dependency as c, null as n from job_dependencies
      where child_job_id = any($1::bigint[]) or parent_job_id = any($1::bigint[])
     union all
     select 'a', ja.job_id, null, a.type, a.name from jobs_assets ja join assets a on a.id = ja.asset_id
      where ja.job_id = any($1::bigint[])
     order by 1, 2, 3, 4, 5`,
    [ids],
  );
  const deps = related
    .filter((r) => r.kind === 'd')
    .map((r) => ({ child_job_id: r.a, parent_job_id: r.b as number, dependency: r.c }));
  const assets = related
    .filter((r) => r.kind === 'a')
    .map((r) => ({ job_id: r.a, type: r.c, name: r.n as string }));
  type Deps = Record<'Chained' | 'Directly chained' | 'Parallel', number[]>;
  const emptyDeps = (): Deps => ({ Chained: [], 'Directly chained': [], Parallel: [] });
  const parentsOf = new Map<number, Deps>();
  const childrenOf = new Map<number, Deps>();
  for (const d of deps) {
    const label = DEP_LABEL[d.dependency] as keyof Deps;
    const p = parentsOf.get(d.child_job_id) ?? emptyDeps();
    p[label].push(d.parent_job_id);
    parentsOf.set(d.child_job_id, p);
    const c = childrenOf.get(d.parent_job_id) ?? emptyDeps();
    c[label].push(d.child_job_id);
    childrenOf.set(d.parent_job_id, c);
  }
  const assetsOf = new Map<number, Record<string, string[]>>();
  for (const a of assets) {
    const m = assetsOf.get(a.job_id) ?? {};
    m[a.type] = [...(m[a.type] ?? []), a.name];
    assetsOf.set(a.job_id, m);
  }
  const NO_DEPS = '{"Chained":[],"Directly chained":[],"Parallel":[]}';
  const parts: string[] = new Array(rows.length);
  rows.forEach((r, i) => {
    const parents = parentsOf.get(r.id);
    const children = childrenOf.get(r.id);
    const a = assetsOf.get(r.id);
    parts[i] =
      `{"id":${r.id},"name":${JSON.stringify(jobName(r))},"test":${str(r.test)},"state":${str(r.state)},` +
      `"result":${str(r.result)},"reason":${str(r.reason)},"priority":${r.priority},"clone_id":${num(r.clone_id)},` +
      `"group_id":${num(r.group_id)},"group":${str(r.group_name)},"assigned_worker_id":${num(r.assigned_worker_id)},` +
      `"blocked_by_id":${num(r.blocked_by_id)},"t_created":${str(r.t_created)},"t_started":${str(r.t_started)},` +
      `"t_finished":${str(r.t_finished)},"settings":${settingsText(r.settings)},"assets":${a ? JSON.stringify(a) : '{}'},` +
      `"parents":${parents ? JSON.stringify(parents) : NO_DEPS},"children":${children ? JSON.stringify(children) : NO_DEPS},` +
      `"has_parents":${parents ? 1 : 0}}`;
  });
  return { text: `[${parts.join(',')}]`, more };
}

/** Jobs by id in openQA's JSON shape, in the order given. */
export async function jobsJson(q: QueryFn, ids: readonly number[]): Promise<JobJson[]> {
  if (ids.length === 0) return [];
  const jobs = JSON.parse(await listJobsJsonText(q, { ids: [...ids] })) as JobJson[];
  const byId = new Map(jobs.map((j) => [j.id, j]));
  return ids.map((id) => byId.get(id)).filter((j): j is JobJson => j !== undefined);
}

export interface StateChange {
  id: number;
  state: string;
  result?: string;
  reason?: string | null;
}

export interface ChangeOptions {
  /** When the change happened (ms since the epoch); the database's clock when not given. */
  readonly at?: number;
  /** Wake the scheduler (false for the scheduler's own writes: it knows already). */
  readonly wakeScheduler?: boolean;
  /**
   * The jobs' state and result as the caller read them with their rows locked (`SELECT … FOR
   * UPDATE`) earlier in this transaction: they are not read and locked a second time.
   */
  readonly locked?: ReadonlyMap<number, { readonly state: JobState; readonly result: JobResult }>;
}

/**
 * Writes state/result changes and publishes one event each. Every change is checked against the
 * job life cycle (domain/jobs/state-machine.ts) on the locked row first: one illegal step rejects
 * the whole call with KQ_ERR_ILLEGAL_TRANSITION and writes nothing. Sets the time of each state
 * once, clears the slot of a job handed back to `scheduled`, records an audit row per transition
 * (job_state_changes) and raises the follow-up flag when a job became final outside the scheduler.
 * `by` = RESTART_IN_PLACE revives finished jobs (restart with clone=0): only final → scheduled/none
 * is accepted then, and the run's reason, times and worker are cleared.
 */
export async function changeJobStates(
  q: QueryFn,
  changes: readonly StateChange[],
  by = 'api',
  options: ChangeOptions = {},
): Promise<void> {
  if (changes.length === 0) return;
  const byId =
    options.locked ??
    new Map(
      (
        await q<{ id: number; state: JobState; result: JobResult }>(
          'select id, state, result from jobs where id = any($1::bigint[]) order by id for update',
          [changes.map((c) => c.id)],
        )
      ).map((row) => [Number(row.id), row]),
    );
  const restartInPlace = by === RESTART_IN_PLACE;
  for (const change of changes) {
    const row = byId.get(change.id);
    if (!row)
      throw new KubeqaError('KQ_ERR_NOT_FOUND', `job ${change.id} does not exist`, 'check the job id');
    assertTransition(
      change.id,
      { state: row.state, result: row.result },
      { state: change.state as JobState, result: (change.result ?? row.result) as JobResult },
      undefined,
      { restartInPlace },
    );
  }
  const rows = await q<{ id: number; state: string; result: string; reason: string | null }>(
    `with upd as (
       update jobs j set state = x.state, result = coalesce(x.result, j.result),
              reason = case when $7 then x.reason else coalesce(x.reason, j.reason) end,
              t_assigned = case when x.state = 'scheduled' then null when x.state = 'assigned' and j.t_assigned is null then t.at else j.t_assigned end,
              t_setup = case when $7 then null when x.state = 'setup' and j.t_setup is null then t.at else j.t_setup end,
              t_started = case when $7 then null when x.state = 'running' and j.t_started is null then t.at else j.t_started end,
              t_finished = case when $7 then null when x.state in ('done', 'cancelled') and j.t_finished is null then t.at else j.t_finished end,
              assigned_worker_id = case when $7 then null else j.assigned_worker_id end,
              slot_id = case when x.state = 'scheduled' then null else j.slot_id end,
              sequence_index = case when x.state = 'scheduled' then null else j.sequence_index end,
              follow_up = j.follow_up or (x.state in ('done', 'cancelled') and $5 <> 'scheduler'),
              t_updated = t.at
         from unnest($1::bigint[], $2::text[], $3::text[], $4::text[]) as x(id, state, result, reason),
              (select id, state as old_state, result as old_result from jobs where id = any($1::bigint[])) o,
              (select coalesce(to_timestamp($6::double precision / 1000), now()) as at) t
        where j.id = x.id and o.id = j.id
        returning j.id, j.state, j.result, j.reason, o.old_state, o.old_result, t.at),
     audit as (
       insert into job_state_changes (job_id, from_state, from_result, to_state, to_result, by, t_created)
       select id, old_state, old_result, state, result, $5, at from upd where old_state <> state or old_result <> result)
     select id, state, result, reason from upd`,
    [
      changes.map((c) => c.id),
      changes.map((c) => c.state),
      changes.map((c) => c.result ?? null),
      changes.map((c) => c.reason ?? null),
      by,
      options.at ?? null,
      restartInPlace,
    ],
  );
  const events: JobEvent[] = rows.map((r) => ({
    type: 'job.state',
    id: Number(r.id),
    state: r.state,
    result: r.result,
    reason: r.reason,
  }));
  await publishJobEvents(q, events, { wakeScheduler: options.wakeScheduler ?? by !== 'scheduler' });
}
