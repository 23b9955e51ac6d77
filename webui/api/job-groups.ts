// /api/v1/job_groups (+ /jobs, /build_results) and /api/v1/parent_groups.
import type { FastifyInstance } from 'fastify';
import { KubeqaError } from '../../domain/errors.js';
import type { ApiContext } from '../app.js';
import { intParam, requestParams, single } from '../params.js';
import { idOf, idParams, need, settingsBody } from './common.js';

const COLUMNS = [
  'name',
  'parent_id',
  'sort_order',
  'default_priority',
  'description',
  'keep_logs_in_days',
  'keep_results_in_days',
  'size_limit_gb',
  'build_version_sort',
];
const INT_COLUMNS = new Set([
  'parent_id',
  'sort_order',
  'default_priority',
  'keep_logs_in_days',
  'keep_results_in_days',
  'size_limit_gb',
]);

export async function jobGroupRoutes(api: FastifyInstance, { database }: ApiContext): Promise<void> {
  const select = `select id, ${COLUMNS.join(', ')}, template, t_created, t_updated from job_groups`;
  api.get('/job_groups', { schema: { summary: 'list job groups', tags: ['job_groups'] } }, async () =>
    database.query(`${select} order by sort_order nulls last, name`),
  );
  api.get(
    '/job_groups/:id',
    {
      schema: {
        summary: 'one job group (as a one-element list, like openQA)',
        tags: ['job_groups'],
        params: idParams,
      },
    },
    async (request) => {
      const rows = await database.query(`${select} where id = $1`, [idOf(request)]);
      if (rows.length === 0)
        throw new KubeqaError('KQ_ERR_NOT_FOUND', `job group ${idOf(request)} does not exist`);
      return rows;
    },
  );
  const values = (request: Parameters<typeof requestParams>[0], creating: boolean) => {
    const p = requestParams(request);
    const out: Record<string, unknown> = {};
    for (const c of COLUMNS) {
      if (p[c] === undefined) continue;
      if (INT_COLUMNS.has(c)) out[c] = intParam(p, c);
      else if (c === 'build_version_sort') out[c] = single(p, c) !== '0' && single(p, c) !== 'false';
      else out[c] = single(p, c);
    }
    if (creating && !out.name) throw new KubeqaError('KQ_ERR_INVALID_ARGUMENT', 'missing parameter: name');
    return out;
  };
  const conflict = (error: unknown) => {
    const code = (error as { code?: string }).code;
    if (code === '23505')
      return new KubeqaError('KQ_ERR_CONFLICT', 'a job group with this name exists already');
    if (code === '23503')
      return new KubeqaError('KQ_ERR_INVALID_ARGUMENT', 'parent_id is not a parent group');
    return error;
  };
  api.post(
    '/job_groups',
    { schema: { summary: 'create a job group', tags: ['job_groups'], body: settingsBody } },
    async (request) => {
      await need(request, 'admin');
      const v = values(request, true);
      try {
        return { id: await insertRow(database, 'job_groups', v) };
      } catch (error) {
        throw conflict(error);
      }
    },
  );
  api.put(
    '/job_groups/:id',
    { schema: { summary: 'change a job group', tags: ['job_groups'], params: idParams, body: settingsBody } },
    async (request) => {
      await need(request, 'admin');
      const v = values(request, false);
      const names = Object.keys(v);
      if (names.length === 0) return { id: idOf(request) };
      try {
        const rows = await database.query(
          `update job_groups set ${names.map((n, i) => `${n} = $${i + 2}`).join(', ')}, t_updated = now() where id = $1 returning id`,
          [idOf(request), ...Object.values(v)],
        );
        if (rows.length === 0)
          throw new KubeqaError('KQ_ERR_NOT_FOUND', `job group ${idOf(request)} does not exist`);
      } catch (error) {
        throw conflict(error);
      }
      return { id: idOf(request) };
    },
  );
  api.delete(
    '/job_groups/:id',
    { schema: { summary: 'delete an empty job group', tags: ['job_groups'], params: idParams } },
    async (request) => {
      await need(request, 'admin');
      const id = idOf(request);
      const [used] = await database.query('select 1 from jobs where group_id = $1 limit 1', [id]);
      if (used)
        throw new KubeqaError(
          'KQ_ERR_CONFLICT',
          `job group ${id} still has jobs`,
          'move or delete its jobs first',
        );
      const rows = await database.query('delete from job_groups where id = $1 returning id', [id]);
      if (rows.length === 0) throw new KubeqaError('KQ_ERR_NOT_FOUND', `job group ${id} does not exist`);
      return { id };
    },
  );
  api.get(
    '/job_groups/:id/jobs',
    {
      schema: {
        summary: 'ids of the jobs in a group (expired=1: only expired ones are not tracked, all returned)',
        tags: ['job_groups'],
        params: idParams,
      },
    },
    async (request) => {
      const rows = await database.query<{ id: number }>(
        'select id from jobs where group_id = $1 order by id',
        [idOf(request)],
      );
      return { ids: rows.map((r) => r.id) };
    },
  );
  api.get(
    '/job_groups/:id/build_results',
    {
      schema: {
        summary: 'per-build result counts, newest builds first',
        tags: ['job_groups'],
        params: idParams,
      },
    },
    async (request) => {
      const limit = intParam(requestParams(request), 'limit_builds') ?? 10;
      const rows = await database.query<Record<string, unknown>>(
        `select build, max(version) as version, max(distri) as distri, count(*)::int as total,
              count(*) filter (where result = 'passed')::int as passed,
              count(*) filter (where result = 'softfailed')::int as softfailed,
              count(*) filter (where result = 'failed')::int as failed,
              count(*) filter (where result not in ('none', 'passed', 'softfailed', 'failed') and state = 'done')::int as unfinished_other,
              count(*) filter (where state = 'cancelled')::int as skipped,
              count(*) filter (where state in ('scheduled', 'assigned', 'setup'))::int as scheduled,
              count(*) filter (where state in ('running', 'uploading'))::int as running,
              max(t_created) as oldest_newest
         from jobs where group_id = $1 and clone_id is null group by build order by max(id) desc limit $2`,
        [idOf(request), limit],
      );
      return { build_results: rows.map(({ oldest_newest, ...r }) => ({ ...r, date: oldest_newest })) };
    },
  );
}

const PARENT_COLUMNS = ['name', 'sort_order', 'default_priority', 'description'];

/** /api/v1/parent_groups: the folders job groups are sorted into. */
export async function parentGroupRoutes(api: FastifyInstance, { database }: ApiContext): Promise<void> {
  const select = `select id, ${PARENT_COLUMNS.join(', ')}, t_created, t_updated from job_group_parents`;
  const values = (request: Parameters<typeof requestParams>[0], creating: boolean) => {
    const p = requestParams(request);
    const out: Record<string, unknown> = {};
    for (const c of PARENT_COLUMNS) {
      if (p[c] === undefined) continue;
      out[c] = c === 'sort_order' || c === 'default_priority' ? intParam(p, c) : single(p, c);
    }
    if (creating && !out.name) throw new KubeqaError('KQ_ERR_INVALID_ARGUMENT', 'missing parameter: name');
    return out;
  };
  const duplicate = (error: unknown) =>
    (error as { code?: string }).code === '23505'
      ? new KubeqaError('KQ_ERR_CONFLICT', 'a parent group with this name exists already')
      : error;
  api.get('/parent_groups', { schema: { summary: 'list parent groups', tags: ['job_groups'] } }, async () =>
    database.query(`${select} order by sort_order nulls last, name`),
  );
  api.get(
    '/parent_groups/:id',
    {
      schema: { summary: 'one parent group (as a one-element list)', tags: ['job_groups'], params: idParams },
    },
    async (request) => {
      const rows = await database.query(`${select} where id = $1`, [idOf(request)]);
      if (rows.length === 0)
        throw new KubeqaError('KQ_ERR_NOT_FOUND', `parent group ${idOf(request)} does not exist`);
      return rows;
    },
  );
  api.post(
    '/parent_groups',
    { schema: { summary: 'create a parent group', tags: ['job_groups'], body: settingsBody } },
    async (request) => {
      await need(request, 'admin');
      const v = values(request, true);
      try {
        return { id: await insertRow(database, 'job_group_parents', v) };
      } catch (error) {
        throw duplicate(error);
      }
    },
  );
  api.put(
    '/parent_groups/:id',
    {
      schema: {
        summary: 'change a parent group',
        tags: ['job_groups'],
        params: idParams,
        body: settingsBody,
      },
    },
    async (request) => {
      await need(request, 'admin');
      const v = values(request, false);
      const names = Object.keys(v);
      if (names.length > 0) {
        try {
          const rows = await database.query(
            `update job_group_parents set ${names.map((n, i) => `${n} = $${i + 2}`).join(', ')}, t_updated = now() where id = $1 returning id`,
            [idOf(request), ...Object.values(v)],
          );
          if (rows.length === 0)
            throw new KubeqaError('KQ_ERR_NOT_FOUND', `parent group ${idOf(request)} does not exist`);
        } catch (error) {
          throw duplicate(error);
        }
      }
      return { id: idOf(request) };
    },
  );
  api.delete(
    '/parent_groups/:id',
    {
      schema: {
        summary: 'delete a parent group (its job groups stay, without parent)',
        tags: ['job_groups'],
        params: idParams,
      },
    },
    async (request) => {
      await need(request, 'admin');
      const rows = await database.query('delete from job_group_parents where id = $1 returning id', [
        idOf(request),
      ]);
      if (rows.length === 0)
        throw new KubeqaError('KQ_ERR_NOT_FOUND', `parent group ${idOf(request)} does not exist`);
      return { id: idOf(request) };
    },
  );
}

/** Insert one row from column → value pairs (column names come from the route's schema); its id. */
async function insertRow(
  database: ApiContext['database'],
  table: string,
  values: Record<string, unknown>,
): Promise<number | undefined> {
  const names = Object.keys(values);
  const [row] = await database.query<{ id: number }>(
    `insert into ${table} (${names.join(', ')}) values (${names.map((_, i) => `$${i + 1}`).join(', ')}) returning id`,
    Object.values(values),
  );
  return row?.id;
}
