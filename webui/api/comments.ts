// /api/v1/jobs/:id/comments: list, add, edit (own), delete (admin). Changes are announced to the
// open pages (a UI event: comments are not job state).
import type { FastifyInstance } from 'fastify';
import { KubeqaError } from '../../domain/errors.js';
import type { ApiContext } from '../app.js';
import { requestParams, single } from '../params.js';
import { publishUiEvent } from '../ui/event-fanout.js';
import { idOf, idParams, need, settingsBody } from './common.js';

export async function commentRoutes(api: FastifyInstance, { database }: ApiContext): Promise<void> {
  const ensureJob = async (id: number) => {
    const [row] = await database.query('select id from jobs where id = $1', [id]);
    if (!row) throw new KubeqaError('KQ_ERR_NOT_FOUND', `job ${id} does not exist`);
  };
  api.get(
    '/jobs/:id/comments',
    { schema: { summary: "a job's comments", tags: ['comments'], params: idParams } },
    async (request) => {
      await ensureJob(idOf(request));
      const rows = await database.query<Record<string, unknown>>(
        `select c.id, c.text, u.username as "userName", c.t_created as created, c.t_updated as updated
         from comments c join users u on u.id = c.user_id where c.job_id = $1 order by c.id`,
        [idOf(request)],
      );
      return rows;
    },
  );
  api.post(
    '/jobs/:id/comments',
    { schema: { summary: 'comment on a job', tags: ['comments'], params: idParams, body: settingsBody } },
    async (request) => {
      const who = await need(request, 'viewer');
      const text = single(requestParams(request), 'text');
      if (!text?.trim()) throw new KubeqaError('KQ_ERR_INVALID_ARGUMENT', 'missing parameter: text');
      await ensureJob(idOf(request));
      const [row] = await database.query<{ id: number }>(
        'insert into comments (job_id, user_id, text) values ($1, $2, $3) returning id',
        [idOf(request), who.userId, text],
      );
      await publishUiEvent(database, { type: 'job.comment', id: idOf(request) });
      return { id: row?.id };
    },
  );
  const commentParams = {
    type: 'object',
    properties: { id: { type: 'string', pattern: '^[0-9]+$' }, cid: { type: 'string', pattern: '^[0-9]+$' } },
  } as const;
  api.put(
    '/jobs/:id/comments/:cid',
    { schema: { summary: 'edit your comment', tags: ['comments'], params: commentParams } },
    async (request) => {
      const who = await need(request, 'viewer');
      const text = single(requestParams(request), 'text');
      if (!text?.trim()) throw new KubeqaError('KQ_ERR_INVALID_ARGUMENT', 'missing parameter: text');
      const rows = await database.query(
        'update comments set text = $4, t_updated = now() where id = $1 and job_id = $2 and user_id = $3 returning id',
        [idOf(request, 'cid'), idOf(request), who.userId, text],
      );
      if (rows.length === 0)
        throw new KubeqaError(
          'KQ_ERR_NOT_FOUND',
          `comment ${idOf(request, 'cid')} of job ${idOf(request)} does not exist or is not yours`,
        );
      await publishUiEvent(database, { type: 'job.comment', id: idOf(request) });
      return { id: idOf(request, 'cid') };
    },
  );
  api.delete(
    '/jobs/:id/comments/:cid',
    { schema: { summary: 'delete a comment', tags: ['comments'], params: commentParams } },
    async (request) => {
      await need(request, 'admin');
      const rows = await database.query('delete from comments where id = $1 and job_id = $2 returning id', [
        idOf(request, 'cid'),
        idOf(request),
      ]);
      if (rows.length === 0)
        throw new KubeqaError(
          'KQ_ERR_NOT_FOUND',
          `comment ${idOf(request, 'cid')} of job ${idOf(request)} does not exist`,
        );
      await publishUiEvent(database, { type: 'job.comment', id: idOf(request) });
      return { id: idOf(request, 'cid') };
    },
  );
}
