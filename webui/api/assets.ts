// /api/v1/assets: register (type + name), list, get (by id or type/name), delete.
import type { FastifyInstance } from 'fastify';
import { KubeqaError } from '../../domain/errors.js';
import type { ApiContext } from '../app.js';
import { intParam, requestParams, single } from '../params.js';
import { idOf, idParams, need, settingsBody } from './common.js';

export const ASSET_TYPES = ['iso', 'hdd', 'repo', 'other'];
const NAME = /^[A-Za-z0-9._+-][A-Za-z0-9._+@-]*$/;

export async function assetRoutes(api: FastifyInstance, { database }: ApiContext): Promise<void> {
  const select = 'select id, type, name, size, checksum, fixed, last_use_job_id, t_created from assets';
  api.post(
    '/assets',
    { schema: { summary: 'register an asset', tags: ['assets'], body: settingsBody } },
    async (request) => {
      await need(request, 'operator');
      const p = requestParams(request);
      const type = single(p, 'type');
      const name = single(p, 'name');
      if (!type || !ASSET_TYPES.includes(type))
        throw new KubeqaError(
          'KQ_ERR_INVALID_ARGUMENT',
          `type must be one of ${ASSET_TYPES.join(', ')}, got '${type ?? ''}'`,
        );
      if (!name || !NAME.test(name))
        throw new KubeqaError(
          'KQ_ERR_INVALID_ARGUMENT',
          `name '${name ?? ''}' is not a file name`,
          'a plain file name without directories',
        );
      const size = intParam(p, 'size');
      const [row] = await database.query<{ id: number }>(
        `insert into assets (type, name, size, checksum) values ($1, $2, $3, $4)
       on conflict (type, name) do update set size = coalesce(excluded.size, assets.size),
         checksum = coalesce(excluded.checksum, assets.checksum), t_updated = now() returning id`,
        [type, name, size ?? null, single(p, 'checksum') ?? null],
      );
      return { id: row?.id };
    },
  );
  api.get('/assets', { schema: { summary: 'list assets', tags: ['assets'] } }, async () => ({
    assets: await database.query(`${select} order by type, name`),
  }));
  const one = async (where: string, params: unknown[]) => {
    const [row] = await database.query(`${select} where ${where}`, params);
    if (!row) throw new KubeqaError('KQ_ERR_NOT_FOUND', `asset ${params.join('/')} does not exist`);
    return row;
  };
  api.get(
    '/assets/:id',
    { schema: { summary: 'one asset', tags: ['assets'], params: idParams } },
    async (request) => one('id = $1', [idOf(request)]),
  );
  api.get(
    '/assets/:type/:name',
    { schema: { summary: 'one asset by type and name', tags: ['assets'] } },
    async (request) => {
      const { type, name } = request.params as { type: string; name: string };
      return one('type = $1 and name = $2', [type, name]);
    },
  );
  api.delete(
    '/assets/:id',
    { schema: { summary: 'unregister an asset', tags: ['assets'], params: idParams } },
    async (request) => {
      await need(request, 'admin');
      const rows = await database.query('delete from assets where id = $1 returning id', [idOf(request)]);
      if (rows.length === 0)
        throw new KubeqaError('KQ_ERR_NOT_FOUND', `asset ${idOf(request)} does not exist`);
      return { count: 1 };
    },
  );
}
