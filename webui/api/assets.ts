// /api/v1/assets: register (type + name, or with url=… to import it in the background), list, get
// (by id or type/name, with its import state; `?wait=N` waits up to N seconds for a pending or
// importing asset's state to change, on NOTIFY kubeqa_assets, not by polling), delete.
import { EventEmitter } from 'node:events';
import type { FastifyInstance } from 'fastify';
import { ASSETS_CHANNEL } from '../../db/assets.js';
import { type AssetType, ASSET_TYPES as TYPES, validateSha256 } from '../../domain/assets/types.js';
import { planUrlDownloads } from '../../domain/assets/url-settings.js';
import { KubeqaError } from '../../domain/errors.js';
import type { ApiContext } from '../app.js';
import { intParam, requestParams, single } from '../params.js';
import { flag, idOf, idParams, need, settingsBody } from './common.js';

export const ASSET_TYPES: readonly string[] = TYPES;
const NAME = /^[A-Za-z0-9._+-][A-Za-z0-9._+@-]*$/;
const MAX_WAIT_SECONDS = 60;

export async function assetRoutes(api: FastifyInstance, ctx: ApiContext): Promise<void> {
  const { database } = ctx;
  const select = `select id, type, name, size, checksum, fixed, last_use_job_id, state, reason, source,
    bytes_imported, t_created, t_updated from assets`;

  // One LISTEN for every waiting request, opened on first use.
  const changes = new EventEmitter();
  changes.setMaxListeners(0);
  let listening: Promise<() => Promise<void>> | undefined;
  const listen = () => {
    listening ??= database.listen(ASSETS_CHANNEL, (payload) => changes.emit(payload));
    return listening;
  };
  api.addHook('onClose', async () => {
    if (listening) await (await listening)();
  });

  api.post(
    '/assets',
    {
      schema: {
        summary: 'register an asset, or import one from url=…',
        tags: ['assets'],
        body: settingsBody,
      },
    },
    async (request, reply) => {
      await need(request, 'operator');
      const p = requestParams(request);
      const type = single(p, 'type');
      const url = single(p, 'url');
      let name = single(p, 'name');
      if (!type || !ASSET_TYPES.includes(type))
        throw new KubeqaError(
          'KQ_ERR_INVALID_ARGUMENT',
          `type must be one of ${ASSET_TYPES.join(', ')}, got '${type ?? ''}'`,
        );
      // sha256=… is checked; openQA's checksum=… is kept as given, and used when it is a sha256.
      const sha256Param = single(p, 'sha256');
      const checksum = sha256Param ? validateSha256(sha256Param) : single(p, 'checksum');
      const sha256 = checksum && /^[0-9a-f]{64}$/i.test(checksum) ? checksum.toLowerCase() : undefined;
      if (url !== undefined) {
        if (!ctx.assets)
          throw new KubeqaError(
            'KQ_ERR_INVALID_ARGUMENT',
            'this server has no asset store to import into',
            'configure KUBEQA_S3_* or KUBEQA_ASSET_DIR for the server',
          );
        // The same rules as a job's *_URL setting (the URL's file name unless name is given).
        const setting =
          type === 'iso' ? 'ISO' : type === 'hdd' ? 'HDD_1' : type === 'repo' ? 'REPO_1' : 'ASSET_1';
        const decompress = flag(single(p, 'decompress'));
        const plan = planUrlDownloads(
          {
            [decompress ? `${setting}_DECOMPRESS_URL` : `${setting}_URL`]: url,
            ...(name ? { [setting]: name } : {}),
          },
          { downloadDomains: ctx.assets.downloadDomains },
        );
        const download = plan.downloads[0];
        if (!download)
          throw new KubeqaError('KQ_ERR_INVALID_ARGUMENT', `'${url.slice(0, 200)}' names no file`);
        name = download.name;
        const { started } = await ctx.assets.importer.request({
          type: type as AssetType,
          name,
          source: download.url,
          ...(sha256 ? { sha256 } : {}),
          ...(download.decompress ? { decompress: download.decompress } : {}),
          ...(single(p, 'fixed') !== undefined ? { fixed: flag(single(p, 'fixed')) } : {}),
        });
        const [row] = await database.query<{ id: number; state: string }>(
          'select id, state from assets where type = $1 and name = $2',
          [type, name],
        );
        reply.code(202);
        return { id: row?.id, type, name, state: row?.state, started };
      }
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
        [type, name, size ?? null, checksum ?? null],
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
    {
      schema: {
        summary: 'one asset by type and name (wait=N: up to N s for a pending/importing one to change)',
        tags: ['assets'],
      },
    },
    async (request) => {
      const { type, name } = request.params as { type: string; name: string };
      const wait = intParam(requestParams(request), 'wait') ?? 0;
      if (wait < 0 || wait > MAX_WAIT_SECONDS)
        throw new KubeqaError(
          'KQ_ERR_INVALID_ARGUMENT',
          `wait must be 0 to ${MAX_WAIT_SECONDS} seconds, got ${wait}`,
        );
      if (wait === 0) return one('type = $1 and name = $2', [type, name]);
      // Listen first, then read: a change between the read and the wait is not missed.
      await listen();
      const channel = `${type}/${name}`;
      let wake!: () => void;
      const changed = new Promise<void>((resolve) => {
        wake = resolve;
      });
      changes.once(channel, wake);
      const timer = setTimeout(wake, wait * 1000);
      try {
        const [row] = await database.query<{ state: string | null }>(
          `${select} where type = $1 and name = $2`,
          [type, name],
        );
        // Answer at once when there is nothing to wait for: settled (ready, failed) or no import state.
        if (!row || row.state === null || row.state === 'ready' || row.state === 'failed') {
          if (!row) throw new KubeqaError('KQ_ERR_NOT_FOUND', `asset ${type}/${name} does not exist`);
          return row;
        }
        await changed;
        return one('type = $1 and name = $2', [type, name]);
      } finally {
        clearTimeout(timer);
        changes.off(channel, wake);
      }
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
