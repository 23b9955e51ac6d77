// /api/v1/isos: post a product build (expanded into jobs), look at a scheduled product, cancel.
import type { FastifyInstance } from 'fastify';
import { postIso } from '../../db/isos.js';
import { cancelJobs } from '../../db/job-actions.js';
import { KubeqaError } from '../../domain/errors.js';
import type { ApiContext } from '../app.js';
import { requestUrlDownloads } from '../assets/url-downloads.js';
import { requestParams, singles } from '../params.js';
import { need, settingsBody } from './common.js';

export async function isoRoutes(api: FastifyInstance, ctx: ApiContext): Promise<void> {
  const { database } = ctx;
  api.post(
    '/isos',
    {
      schema: {
        summary: 'schedule a product build: templates × machines × test suites → jobs',
        tags: ['isos'],
        body: settingsBody,
      },
    },
    async (request) => {
      const principal = await need(request, 'operator');
      // *_URL settings (ISO_URL, …): imported in the background, the asset settings filled in.
      const params = await requestUrlDownloads(ctx, singles(requestParams(request)));
      return postIso(database, params, principal.userId);
    },
  );

  api.get('/isos', { schema: { summary: 'scheduled products, newest first', tags: ['isos'] } }, async () => {
    const rows = await database.query('select * from scheduled_products order by id desc limit 500');
    return { scheduled_products: rows };
  });

  api.get(
    '/isos/:id',
    {
      schema: {
        summary: 'one scheduled product',
        tags: ['isos'],
        params: { type: 'object', properties: { id: { type: 'string' } } },
      },
    },
    async (request) => {
      const id = (request.params as { id: string }).id;
      if (!/^\d+$/.test(id))
        throw new KubeqaError(
          'KQ_ERR_INVALID_ARGUMENT',
          `scheduled product id must be a number, got '${id}'`,
        );
      const [row] = await database.query<Record<string, unknown>>(
        'select * from scheduled_products where id = $1',
        [Number(id)],
      );
      if (!row) throw new KubeqaError('KQ_ERR_NOT_FOUND', `scheduled product ${id} does not exist`);
      const jobIds = await database.query<{ id: number }>(
        'select id from jobs where scheduled_product_id = $1 order by id',
        [Number(id)],
      );
      return { ...row, job_ids: jobIds.map((j) => j.id) };
    },
  );

  api.post(
    '/isos/:name/cancel',
    {
      schema: { summary: 'cancel the jobs of an ISO (by name) or scheduled product (by id)', tags: ['isos'] },
    },
    async (request) => {
      await need(request, 'operator');
      const name = (request.params as { name: string }).name;
      const rows = /^\d+$/.test(name)
        ? await database.query<{ id: number }>('select id from jobs where scheduled_product_id = $1', [
            Number(name),
          ])
        : await database.query<{ id: number }>(
            'select id from jobs where settings @> jsonb_build_object($1::text, $2::text)',
            ['ISO', name],
          );
      const cancelled =
        rows.length > 0
          ? await cancelJobs(
              database,
              rows.map((r) => Number(r.id)),
              `ISO ${name} cancelled`,
            )
          : 0;
      if (/^\d+$/.test(name)) {
        await database.query(
          "update scheduled_products set status = 'cancelled', t_updated = now() where id = $1",
          [Number(name)],
        );
      }
      return { result: cancelled };
    },
  );
}
