// /api/v1/workers: register (a worker reports host, instance and properties), list, get, delete.
import type { FastifyInstance } from 'fastify';
import { KubeqaError } from '../../domain/errors.js';
import type { ApiContext } from '../app.js';
import { intParam, requestParams, single } from '../params.js';
import { idOf, idParams, need, settingsBody } from './common.js';

const shape = (r: Record<string, unknown>) => ({
  id: r.id,
  host: r.host,
  instance: r.instance,
  name: `${r.host}:${r.instance}`,
  properties: r.properties,
  error: r.error,
  jobid: r.job_id,
  alive: r.alive ? 1 : 0,
  t_seen: r.t_seen,
});

export async function workerRoutes(api: FastifyInstance, { database }: ApiContext): Promise<void> {
  const select = "select *, t_seen > now() - interval '2 minutes' as alive from workers";
  api.post(
    '/workers',
    {
      schema: {
        summary: 'register a worker (host, instance, cpu_arch, worker_class, …)',
        tags: ['workers'],
        body: settingsBody,
      },
    },
    async (request) => {
      await need(request, 'operator');
      const p = requestParams(request);
      const host = single(p, 'host');
      const instance = intParam(p, 'instance');
      if (!host) throw new KubeqaError('KQ_ERR_INVALID_ARGUMENT', 'missing parameter: host');
      if (instance === undefined || instance < 0)
        throw new KubeqaError('KQ_ERR_INVALID_ARGUMENT', 'missing parameter: instance (a number ≥ 0)');
      const properties: Record<string, string> = {};
      for (const [k, v] of Object.entries(p))
        if (k !== 'host' && k !== 'instance')
          properties[k.toUpperCase()] = Array.isArray(v) ? v.join(',') : v;
      const [row] = await database.query<{ id: number }>(
        `insert into workers (host, instance, properties, t_seen) values ($1, $2, $3::jsonb, now())
       on conflict (host, instance) do update set properties = excluded.properties, t_seen = now(), error = null, t_updated = now()
       returning id`,
        [host, instance, JSON.stringify(properties)],
      );
      return { id: row?.id };
    },
  );
  api.get(
    '/workers',
    {
      schema: {
        summary: "list workers, and the scheduler's slots by pool (local executor, Worker pools)",
        tags: ['workers'],
      },
    },
    async () => ({
      workers: (await database.query<Record<string, unknown>>(`${select} order by host, instance`)).map(
        shape,
      ),
      // kubeqa's own places to run jobs: a slot is alive while it reports (2 minutes, as the
      // scheduler's default slot timeout), and holds the jobs assigned to it in their order
      slots: (
        await database.query<{
          id: string;
          pool: string;
          classes: string[];
          last_seen: string;
          alive: boolean;
          jobs: number[];
        }>(
          `select s.id, s.pool, s.classes, s.last_seen, s.last_seen > now() - interval '2 minutes' as alive,
                  coalesce(array_agg(j.id order by j.sequence_index) filter (where j.id is not null), '{}') as jobs
             from slots s
             left join jobs j on j.slot_id = s.id and j.state in ('assigned', 'setup', 'running', 'uploading')
            group by s.id order by s.pool, s.id`,
        )
      ).map((r) => ({
        id: r.id,
        pool: r.pool,
        classes: r.classes,
        alive: r.alive ? 1 : 0,
        jobs: r.jobs.map(Number),
        last_seen: r.last_seen,
      })),
    }),
  );
  api.get(
    '/workers/:id',
    { schema: { summary: 'one worker', tags: ['workers'], params: idParams } },
    async (request) => {
      const [row] = await database.query<Record<string, unknown>>(`${select} where id = $1`, [idOf(request)]);
      if (!row) throw new KubeqaError('KQ_ERR_NOT_FOUND', `worker ${idOf(request)} does not exist`);
      return { worker: shape(row) };
    },
  );
  api.delete(
    '/workers/:id',
    { schema: { summary: 'delete an offline worker', tags: ['workers'], params: idParams } },
    async (request) => {
      await need(request, 'admin');
      const rows = await database.query<{ job_id: number | null }>(
        'select job_id from workers where id = $1',
        [idOf(request)],
      );
      if (rows.length === 0)
        throw new KubeqaError('KQ_ERR_NOT_FOUND', `worker ${idOf(request)} does not exist`);
      if (rows[0]?.job_id)
        throw new KubeqaError('KQ_ERR_CONFLICT', `worker ${idOf(request)} is running job ${rows[0].job_id}`);
      await database.query('delete from workers where id = $1', [idOf(request)]);
      return { message: `Delete worker ${idOf(request)} successfully.` };
    },
  );
}
