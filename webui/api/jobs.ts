// /api/v1/jobs: list, get, create (with TEST:suffix clusters), delete, cancel, restart,
// duplicate, prio, details. Shapes follow openQA's.
import type { FastifyInstance } from 'fastify';
import type { QueryFn } from '../../db/connect.js';
import { cancelJobs, deleteJob, notFound, restartJobs, setPriority } from '../../db/job-actions.js';
import {
  insertJobs,
  type JobFilters,
  jobColumns,
  jobsJson,
  listJobsPage,
  type NewEdge,
} from '../../db/jobs.js';
import { jobDetails } from '../../db/results.js';
import { KubeqaError } from '../../domain/errors.js';
import { type JobRequest, parseJobCreation } from '../../domain/jobs/create-params.js';
import { isJobResult, isJobState } from '../../domain/jobs/states.js';
import { assetsOfSettings } from '../../domain/products/settings.js';
import type { ApiContext } from '../app.js';
import { requestUrlDownloads } from '../assets/url-downloads.js';
import { intParam, list, requestParams, single } from '../params.js';
import { publishUiEvent } from '../ui/event-fanout.js';
import { flag, idOf, idParams, need, settingsBody } from './common.js';

const stringOrList = { anyOf: [{ type: 'string' }, { type: 'array', items: { type: 'string' } }] };
const listQuery = {
  type: 'object',
  properties: {
    ...Object.fromEntries(
      [
        'state',
        'result',
        'distri',
        'version',
        'flavor',
        'build',
        'test',
        'arch',
        'machine',
        'ids',
        'latest',
      ].map((k) => [k, stringOrList]),
    ),
    groupid: { type: 'integer', minimum: 0 },
    group_id: { type: 'integer', minimum: 0 },
    limit: { type: 'integer', minimum: 1, maximum: 1_000_000 },
    offset: { type: 'integer', minimum: 0 },
  },
};

async function resolveGroup(q: QueryFn, job: JobRequest): Promise<number | null> {
  if (job.groupId !== undefined) {
    const [g] = await q('select id from job_groups where id = $1', [job.groupId]);
    if (!g) throw new KubeqaError('KQ_ERR_INVALID_ARGUMENT', `_GROUP_ID ${job.groupId} is not a job group`);
    return job.groupId;
  }
  if (job.groupName !== undefined) {
    const [g] = await q<{ id: number }>('select id from job_groups where name = $1', [job.groupName]);
    if (!g) throw new KubeqaError('KQ_ERR_INVALID_ARGUMENT', `_GROUP '${job.groupName}' is not a job group`);
    return g.id;
  }
  return null;
}

export async function jobRoutes(api: FastifyInstance, ctx: ApiContext): Promise<void> {
  const { database, jobListLimit } = ctx;
  const listLimit = jobListLimit ?? 10_000;
  api.get(
    '/jobs',
    { schema: { summary: 'list jobs, newest first', tags: ['jobs'], querystring: listQuery } },
    async (request, reply) => {
      const p = requestParams(request);
      for (const s of list(p, 'state')) {
        if (!isJobState(s))
          throw new KubeqaError('KQ_ERR_INVALID_ARGUMENT', `state '${s}' is not a job state`);
      }
      for (const r of list(p, 'result')) {
        if (!isJobResult(r))
          throw new KubeqaError('KQ_ERR_INVALID_ARGUMENT', `result '${r}' is not a job result`);
      }
      const ids = list(p, 'ids').map((v) => {
        if (!/^\d+$/.test(v)) throw new KubeqaError('KQ_ERR_INVALID_ARGUMENT', `ids: '${v}' is not a job id`);
        return Number(v);
      });
      const limit = intParam(p, 'limit') ?? listLimit;
      const offset = intParam(p, 'offset') ?? 0;
      const filters: JobFilters = {
        ids: p.ids !== undefined ? ids : undefined,
        state: list(p, 'state'),
        result: list(p, 'result'),
        distri: single(p, 'distri'),
        version: single(p, 'version'),
        flavor: single(p, 'flavor'),
        build: single(p, 'build'),
        test: list(p, 'test'),
        arch: single(p, 'arch'),
        machine: single(p, 'machine'),
        groupId: intParam(p, 'groupid') ?? intParam(p, 'group_id'),
        latest: flag(single(p, 'latest')),
      };
      const { text: jobs, more } = await listJobsPage(database.query, { ...filters, limit, offset });
      // more than one page: say where the next one is, as openQA does (Link header)
      if (more) {
        const next = new URLSearchParams(request.url.split('?')[1] ?? '');
        next.set('limit', String(limit));
        next.set('offset', String(offset + limit));
        reply.header('link', `</api/v1/jobs?${next.toString()}>; rel="next"`);
      }
      return reply.type('application/json; charset=utf-8').send(`{"jobs":${jobs}}`);
    },
  );

  api.get(
    '/jobs/:id',
    { schema: { summary: 'one job', tags: ['jobs'], params: idParams } },
    async (request) => {
      const id = idOf(request);
      const [job] = await jobsJson(database.query, [id]);
      if (!job) throw notFound(`job ${id}`);
      return { job };
    },
  );

  api.get(
    '/jobs/:id/details',
    { schema: { summary: 'one job with its test results', tags: ['jobs'], params: idParams } },
    async (request) => {
      const id = idOf(request);
      const [job] = await jobsJson(database.query, [id]);
      if (!job) throw notFound(`job ${id}`);
      return { job: { ...job, testresults: await jobDetails(database.query, id) } };
    },
  );

  api.post(
    '/jobs',
    {
      schema: {
        summary: 'create jobs from settings (TEST:suffix makes a cluster)',
        tags: ['jobs'],
        body: settingsBody,
      },
    },
    async (request) => {
      await need(request, 'operator');
      const requests = parseJobCreation(requestParams(request));
      // *_URL settings: the assets are imported (in the background) before the jobs exist.
      for (const r of requests) r.settings = await requestUrlDownloads(ctx, r.settings);
      const ids = await database.transaction(async (q) => {
        const groups = await Promise.all(requests.map((r) => resolveGroup(q, r)));
        const suffixIndex = new Map(requests.map((r, i) => [r.suffix, i]));
        const external = requests.flatMap((r) =>
          r.parents.filter((p) => p.jobId !== undefined).map((p) => p.jobId as number),
        );
        if (external.length > 0) {
          const existing = await q<{ id: number }>('select id from jobs where id = any($1::bigint[])', [
            external,
          ]);
          const missing = external.filter((id) => !existing.some((e) => Number(e.id) === id));
          if (missing.length > 0)
            throw new KubeqaError(
              'KQ_ERR_INVALID_ARGUMENT',
              `parent job ${missing.join(', ')} does not exist`,
            );
        }
        const edges: NewEdge[] = requests.flatMap((r, i) =>
          r.parents.map((p) =>
            p.jobId !== undefined
              ? { child: i, parentJobId: p.jobId, type: p.type }
              : { child: i, parent: suffixIndex.get(p.suffix as string) as number, type: p.type },
          ),
        );
        return insertJobs(
          q,
          requests.map((r, i) => ({
            ...jobColumns(r.settings),
            groupId: groups[i] ?? null,
            priority: r.priority ?? 50,
            scheduledProductId: null,
            settings: r.settings,
            assets: assetsOfSettings(
              Object.fromEntries(Object.entries(r.settings).map(([k, v]) => [k, v.at(-1) ?? ''])),
            ),
          })),
          edges,
        );
      });
      if (requests.length === 1 && requests[0]?.suffix === '') return { id: ids[0] };
      return { ids: Object.fromEntries(requests.map((r, i) => [r.suffix, ids[i]])) };
    },
  );

  api.delete(
    '/jobs/:id',
    { schema: { summary: 'delete a job', tags: ['jobs'], params: idParams } },
    async (request) => {
      await need(request, 'operator');
      await deleteJob(database, idOf(request));
      return { result: 1 };
    },
  );

  api.post(
    '/jobs/:id/cancel',
    { schema: { summary: 'cancel a job and what waits for it', tags: ['jobs'], params: idParams } },
    async (request) => {
      await need(request, 'operator');
      const id = idOf(request);
      const [exists] = await database.query('select id from jobs where id = $1', [id]);
      if (!exists) throw notFound(`job ${id}`);
      const reason = single(requestParams(request), 'reason');
      return { result: await cancelJobs(database, [id], reason) };
    },
  );

  const restart = async (ids: number[], p: ReturnType<typeof requestParams>) => {
    const set: Record<string, string> = {};
    for (const entry of list(p, 'set')) {
      const eq = entry.indexOf('=');
      if (eq <= 0) throw new KubeqaError('KQ_ERR_INVALID_ARGUMENT', `set: '${entry}' is not KEY=VALUE`);
      set[entry.slice(0, eq)] = entry.slice(eq + 1);
    }
    const cloneParam = single(p, 'clone');
    const result = await restartJobs(database, ids, {
      force: flag(single(p, 'force')),
      prio: intParam(p, 'prio'),
      set,
      clone: cloneParam === undefined ? true : flag(cloneParam),
      skipParents: flag(single(p, 'skip_parents')),
      skipChildren: flag(single(p, 'skip_children')),
      skipOkResultChildren: flag(single(p, 'skip_ok_result_children')),
    });
    return {
      result: Object.entries(result.mapping).map(([o, n]) => ({ [o]: n })),
      test_url: Object.entries(result.mapping).map(([o, n]) => ({ [o]: `/tests/${n}` })),
      errors: result.errors,
      warnings: [],
      enforceable: 0,
    };
  };

  api.post(
    '/jobs/:id/restart',
    {
      schema: { summary: 'restart a job (clones it and its dependencies)', tags: ['jobs'], params: idParams },
    },
    async (request) => {
      await need(request, 'operator');
      return restart([idOf(request)], requestParams(request));
    },
  );

  api.post(
    '/jobs/restart',
    { schema: { summary: 'restart several jobs (jobs=1,2,…)', tags: ['jobs'] } },
    async (request) => {
      await need(request, 'operator');
      const p = requestParams(request);
      const ids = list(p, 'jobs').map((v) => {
        if (!/^\d+$/.test(v))
          throw new KubeqaError('KQ_ERR_INVALID_ARGUMENT', `jobs: '${v}' is not a job id`);
        return Number(v);
      });
      if (ids.length === 0) throw new KubeqaError('KQ_ERR_INVALID_ARGUMENT', 'missing parameter: jobs');
      return restart(ids, p);
    },
  );

  api.post(
    '/jobs/:id/duplicate',
    { schema: { summary: 'clone one job (openQA: duplicate)', tags: ['jobs'], params: idParams } },
    async (request) => {
      await need(request, 'operator');
      const id = idOf(request);
      const body = await restart([id], requestParams(request));
      const mapped = body.result.find((r) => String(id) in r);
      return { id: mapped?.[String(id)], result: body.result };
    },
  );

  api.post(
    '/jobs/:id/prio',
    { schema: { summary: 'set the priority', tags: ['jobs'], params: idParams } },
    async (request) => {
      await need(request, 'operator');
      const prio = intParam(requestParams(request), 'prio');
      if (prio === undefined) throw new KubeqaError('KQ_ERR_INVALID_ARGUMENT', 'missing parameter: prio');
      await setPriority(database, idOf(request), prio);
      await publishUiEvent(database, { type: 'job.priority', id: idOf(request) });
      return { result: 1 };
    },
  );
}
