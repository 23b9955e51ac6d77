// Jobs and their Job custom resources (table job_resources): ingesting applied CRs as jobs (one
// transaction per dependency group, so the mapping and the job appear together and a CR is never
// ingested twice), adopting the mirror CRs of API jobs, and reading what the CR status shows.
import type { JobResult, JobState } from '../domain/jobs/states.js';
import { assetsOfSettings } from '../domain/products/settings.js';
import type { OpenDatabase, QueryFn } from './connect.js';
import { insertJobs, jobColumns, type NewEdge, type NewJob } from './jobs.js';

export interface ResourceRef {
  namespace: string;
  name: string;
  uid: string;
}

export interface IngestMember extends ResourceRef {
  settings: Record<string, string[]>;
  priority: number;
  /** Parents by name, in the same namespace (members or already ingested Jobs, see `parentIds`). */
  parents: Array<{ name: string; type: NewEdge['type'] }>;
}

/**
 * Creates the jobs of CRs not ingested yet (one or more dependency groups) with their
 * dependencies and mappings, in one transaction. `parentIds`: job ids of parents outside the
 * given members, by "namespace/name". `lockKeys`: one per group, so that two callers ingesting
 * members of the same group serialise (the second sees the first one's rows).
 * Returns the job id of every member (existing or new), by uid.
 */
export async function ingestJobResources(
  database: OpenDatabase,
  members: readonly IngestMember[],
  parentIds: ReadonlyMap<string, number>,
  lockKeys: readonly string[],
): Promise<Map<string, number>> {
  if (members.length === 0) return new Map();
  return database.transaction(async (q) => {
    for (const key of [...new Set(lockKeys)].sort())
      await q('select pg_advisory_xact_lock(hashtext($1))', [`kubeqa-ingest:${key}`]);
    const existing = await q<{ uid: string; job_id: number }>(
      'select uid, job_id from job_resources where uid = any($1::text[])',
      [members.map((m) => m.uid)],
    );
    const ids = new Map(existing.map((r) => [r.uid, Number(r.job_id)]));
    const seen = new Set<string>();
    const fresh = members.filter((m) => {
      if (ids.has(m.uid) || seen.has(m.uid)) return false;
      seen.add(m.uid);
      return true;
    });
    if (fresh.length === 0) return ids;
    const keyOf = (namespace: string, name: string) => `${namespace}/${name}`;
    const index = new Map(fresh.map((m, i) => [keyOf(m.namespace, m.name), i]));
    const known = new Map(parentIds);
    for (const m of members) {
      const id = ids.get(m.uid);
      if (id !== undefined) known.set(keyOf(m.namespace, m.name), id);
    }
    const edges: NewEdge[] = [];
    fresh.forEach((m, child) => {
      for (const parent of m.parents) {
        const key = keyOf(m.namespace, parent.name);
        const inBatch = index.get(key);
        if (inBatch !== undefined) edges.push({ child, parent: inBatch, type: parent.type });
        else {
          const parentJobId = known.get(key);
          if (parentJobId === undefined) throw new Error(`parent Job ${key} of ${m.name} is not ingested`);
          edges.push({ child, parentJobId, type: parent.type });
        }
      }
    });
    const jobs: NewJob[] = fresh.map((m) => ({
      ...jobColumns(m.settings),
      groupId: null,
      priority: m.priority,
      scheduledProductId: null,
      settings: m.settings,
      assets: assetsOfSettings(
        Object.fromEntries(Object.entries(m.settings).map(([k, v]) => [k, v.at(-1) ?? ''])),
      ),
    }));
    const newIds = await insertJobs(q, jobs, edges);
    await q(
      `insert into job_resources (job_id, namespace, name, uid, origin)
       select * from unnest($1::bigint[], $2::text[], $3::text[], $4::text[], $5::text[])`,
      [
        newIds,
        fresh.map((m) => m.namespace),
        fresh.map((m) => m.name),
        fresh.map((m) => m.uid),
        fresh.map(() => 'cr'),
      ],
    );
    fresh.forEach((m, i) => {
      ids.set(m.uid, newIds[i] as number);
    });
    return ids;
  });
}

/** The job of a CR, by uid. */
export async function jobOfResource(q: QueryFn, uid: string): Promise<number | undefined> {
  const [row] = await q<{ job_id: number }>('select job_id from job_resources where uid = $1', [uid]);
  return row ? Number(row.job_id) : undefined;
}

/** The jobs of CRs, by uid (uids without a job are missing from the map). */
export async function resourceJobsOfUids(q: QueryFn, uids: readonly string[]): Promise<Map<string, number>> {
  if (uids.length === 0) return new Map();
  const rows = await q<{ uid: string; job_id: number }>(
    'select uid, job_id from job_resources where uid = any($1::text[])',
    [uids],
  );
  return new Map(rows.map((r) => [r.uid, Number(r.job_id)]));
}

/** The CRs of jobs that have not ended (in one namespace when given). */
export async function pendingResources(
  q: QueryFn,
  namespace: string | undefined,
): Promise<Array<ResourceRef & { jobId: number }>> {
  const rows = await q<{ job_id: number; namespace: string; name: string; uid: string }>(
    `select r.job_id, r.namespace, r.name, r.uid from job_resources r join jobs j on j.id = r.job_id
      where j.state not in ('done', 'cancelled') and ($1::text is null or r.namespace = $1)`,
    [namespace ?? null],
  );
  return rows.map((r) => ({ jobId: Number(r.job_id), namespace: r.namespace, name: r.name, uid: r.uid }));
}

/** Records the mirror CR of an API job (a recreated mirror replaces the old mapping). */
export async function adoptMirror(q: QueryFn, jobId: number, ref: ResourceRef): Promise<boolean> {
  const rows = await q(
    `insert into job_resources (job_id, namespace, name, uid, origin)
     select id, $2, $3, $4, 'api' from jobs where id = $1
     on conflict (job_id) do update set namespace = excluded.namespace, name = excluded.name, uid = excluded.uid
     where job_resources.origin = 'api'
     returning job_id`,
    [jobId, ref.namespace, ref.name, ref.uid],
  );
  return rows.length > 0;
}

/** The CRs of jobs, by job id. */
export async function resourcesOfJobs(
  q: QueryFn,
  jobIds: readonly number[],
): Promise<Map<number, { namespace: string; name: string }>> {
  if (jobIds.length === 0) return new Map();
  const rows = await q<{ job_id: number; namespace: string; name: string }>(
    'select job_id, namespace, name from job_resources where job_id = any($1::bigint[])',
    [jobIds],
  );
  return new Map(rows.map((r) => [Number(r.job_id), { namespace: r.namespace, name: r.name }]));
}

export interface MirrorCandidate {
  id: number;
  priority: number;
  settings: Record<string, string | string[]>;
}

/** Jobs (of `ids`, or all pending ones when undefined) that have no CR yet and are not final. */
export async function jobsWithoutResource(
  q: QueryFn,
  ids: readonly number[] | undefined,
): Promise<MirrorCandidate[]> {
  const rows = await q<MirrorCandidate>(
    `select j.id, j.priority, j.settings from jobs j
      where ${ids ? 'j.id = any($1::bigint[]) and' : ''} j.state not in ('done', 'cancelled')
        and not exists (select 1 from job_resources r where r.job_id = j.id)
      order by j.id`,
    ids ? [ids] : [],
  );
  return rows.map((r) => ({ ...r, id: Number(r.id) }));
}

export interface JobStatusRow {
  id: number;
  state: JobState;
  result: JobResult;
  reason: string | null;
  startedAt: Date | null;
  finishedAt: Date | null;
}

export async function jobStatusRows(q: QueryFn, ids: readonly number[]): Promise<Map<number, JobStatusRow>> {
  if (ids.length === 0) return new Map();
  const rows = await q<{
    id: number;
    state: JobState;
    result: JobResult;
    reason: string | null;
    t_started: Date | null;
    t_finished: Date | null;
  }>('select id, state, result, reason, t_started, t_finished from jobs where id = any($1::bigint[])', [ids]);
  return new Map(
    rows.map((r) => [
      Number(r.id),
      {
        id: Number(r.id),
        state: r.state,
        result: r.result,
        reason: r.reason,
        startedAt: r.t_started,
        finishedAt: r.t_finished,
      },
    ]),
  );
}
