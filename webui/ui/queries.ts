// The reads behind the UI pages, each a few index lookups whatever the number of jobs:
//   overview  — per job group its newest builds (by build name, descending: a skip scan over
//               jobs_group_build_idx) with result counts of the latest job of each scenario
//   build     — the jobs of one build of one group (jobs_group_build_idx)
//   job page  — one job with modules, steps (with needle details), files, comments, cluster
import type { QueryFn } from '../../db/connect.js';
import { jobsJson } from '../../db/jobs.js';
import { jobModules } from '../../db/results.js';
import type { BuildJob, BuildSummary, GroupOverview, PageModule } from './view-types.js';

export type { BuildJob, BuildSummary, GroupOverview, PageModule, PageStep } from './view-types.js';

export interface OverviewFilters {
  distri?: string;
  version?: string;
  flavor?: string;
  arch?: string;
  result?: string;
  groupId?: number;
  /** Builds per group (default 3, as openQA's index page). */
  builds?: number;
}

/** `j.col = $n` for each given filter; params are appended. */
function filterSql(f: OverviewFilters, params: unknown[], alias: string): string {
  const out: string[] = [];
  for (const key of ['distri', 'version', 'flavor', 'arch', 'result'] as const) {
    const value = f[key];
    if (value === undefined || value === '') continue;
    params.push(value);
    out.push(`${alias}.${key} = $${params.length}`);
  }
  return out.map((c) => ` and ${c}`).join('');
}

export async function overview(q: QueryFn, f: OverviewFilters): Promise<GroupOverview[]> {
  const params: unknown[] = [f.builds ?? 3];
  const inner = filterSql(f, params, 'j');
  let groupWhere = '';
  if (f.groupId !== undefined) {
    params.push(f.groupId);
    groupWhere = `where g.id = $${params.length}`;
  }
  // Counts come from jobs_group_build_outcome_idx alone (an index-only scan) when no column filter
  // is given; distri/version of a build from its first job.
  const rows = await q<BuildSummary & { group_id: number; group_name: string }>(
    `select g.id as group_id, g.name as group_name, b.build, c.*, d.distri, d.version
       from (select id, name, sort_order from job_groups g ${groupWhere}) g
       cross join lateral (
         with recursive b(build, n) as (
           (select j.build, 1 from jobs j where j.group_id = g.id${inner} order by j.build desc limit 1)
           union all
           select (select j.build from jobs j where j.group_id = g.id and j.build < b.build${inner}
                    order by j.build desc limit 1), b.n + 1
             from b where b.build is not null and b.n < $1)
         select build from b where build is not null) b
       cross join lateral (
         select count(*)::int as total,
                count(*) filter (where j.result = 'passed')::int as passed,
                count(*) filter (where j.result = 'softfailed')::int as softfailed,
                count(*) filter (where j.result = 'failed')::int as failed,
                count(*) filter (where j.result in ('incomplete', 'timeout_exceeded', 'parallel_failed', 'skipped'))::int as incomplete,
                count(*) filter (where j.state in ('assigned', 'setup', 'running', 'uploading'))::int as running,
                count(*) filter (where j.state = 'scheduled')::int as scheduled,
                count(*) filter (where j.state = 'cancelled' or j.result in ('user_cancelled', 'obsoleted'))::int as cancelled,
                max(j.id) as newest_job
           from jobs j where j.group_id = g.id and j.build = b.build and j.clone_id is null${inner}) c
       cross join lateral (
         select j.distri, j.version from jobs j where j.group_id = g.id and j.build = b.build
          order by j.id limit 1) d
      order by g.sort_order nulls last, g.name, b.build desc`,
    params,
  );
  const groups = new Map<number, GroupOverview>();
  for (const r of rows) {
    const id = Number(r.group_id);
    let g = groups.get(id);
    if (!g) {
      g = { id, name: r.group_name, builds: [] };
      groups.set(id, g);
    }
    const { group_id: _id, group_name: _name, ...summary } = r;
    g.builds.push({ ...summary, newest_job: Number(summary.newest_job) });
  }
  return [...groups.values()];
}

/** The latest job of every scenario of one build (of one group, or of all groups). */
export async function buildJobs(q: QueryFn, build: string, groupId?: number): Promise<BuildJob[]> {
  const rows = await q<BuildJob>(
    `select id, test, machine, distri, version, flavor, arch, state, result, priority
       from jobs where build = $1 ${groupId === undefined ? '' : 'and group_id = $2'} and clone_id is null
      order by distri, version, flavor, arch, test, machine, id desc
      limit 5000`,
    groupId === undefined ? [build] : [build, groupId],
  );
  return rows.map((r) => ({ ...r, id: Number(r.id) }));
}

const DEP_NAMES: Record<string, string> = {
  chained: 'Chained',
  directly_chained: 'Directly chained',
  parallel: 'Parallel',
};

/** Everything the job page shows, in one answer (no round trip per tab). */
export async function jobPage(q: QueryFn, id: number): Promise<Record<string, unknown> | undefined> {
  const [job] = await jobsJson(q, [id]);
  if (!job) return undefined;
  const [modules, files, comments, cluster] = await Promise.all([
    jobModules(q, id),
    q<{ name: string; size: number; content_type: string }>(
      `select a.name, b.size::int as size, b.content_type from job_artefacts a join blobs b on b.hash = a.hash
        where a.job_id = $1 order by a.name`,
      [id],
    ),
    q<{ id: number; text: string; user: string; created: string }>(
      `select c.id, c.text, u.username as user,
              to_char(c.t_created at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"') as created
         from comments c join users u on u.id = c.user_id where c.job_id = $1 order by c.id`,
      [id],
    ),
    // the dependency cluster: every job reachable over dependency edges (bounded)
    q<{ child: number; parent: number; dependency: string }>(
      `with recursive c(id) as (select $1::bigint
         union select case when d.child_job_id = c.id then d.parent_job_id else d.child_job_id end
           from c join job_dependencies d on d.child_job_id = c.id or d.parent_job_id = c.id)
       select d.child_job_id as child, d.parent_job_id as parent, d.dependency
         from job_dependencies d where d.child_job_id in (select id from c limit 500)`,
      [id],
    ),
  ]);
  const clusterIds = [...new Set(cluster.flatMap((e) => [Number(e.child), Number(e.parent)]))];
  const nodes =
    clusterIds.length === 0
      ? []
      : await q<{ id: number; test: string; state: string; result: string }>(
          'select id, test, state, result from jobs where id = any($1::bigint[]) order by id',
          [clusterIds],
        );
  return {
    job,
    modules: modules.map(
      (m): PageModule => ({
        name: m.name,
        category: m.category,
        result: m.result,
        flags: m.flags,
        steps: m.steps,
      }),
    ),
    files,
    comments: comments.map((c) => ({ ...c, id: Number(c.id) })),
    dependencies: {
      nodes: nodes.map((n) => ({ ...n, id: Number(n.id) })),
      edges: cluster.map((e) => ({
        parent: Number(e.parent),
        child: Number(e.child),
        type: DEP_NAMES[e.dependency] ?? e.dependency,
      })),
    },
  };
}
