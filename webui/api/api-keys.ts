// /api/v1/users/me/api_keys: your own API keys (create, list, delete).
import type { FastifyInstance } from 'fastify';
import { openqaTime } from '../../db/jobs.js';
import { createApiKey, deleteApiKey, listApiKeys } from '../../db/users.js';
import { KubeqaError } from '../../domain/errors.js';
import type { ApiContext } from '../app.js';
import { requestParams, single } from '../params.js';
import { idOf, idParams, need, settingsBody } from './common.js';

export async function apiKeyRoutes(api: FastifyInstance, { database }: ApiContext): Promise<void> {
  const shape = (k: {
    id: number;
    key: string;
    secret: string;
    t_expiration: Date | null;
    t_created: Date;
  }) => ({
    id: k.id,
    key: k.key,
    secret: k.secret,
    t_expiration: openqaTime(k.t_expiration),
    t_created: openqaTime(k.t_created),
  });
  api.get(
    '/users/me/api_keys',
    { schema: { summary: 'your API keys', tags: ['users'] } },
    async (request) => {
      const who = await need(request, 'viewer');
      return { api_keys: (await listApiKeys(database.query, who.userId)).map(shape) };
    },
  );
  api.post(
    '/users/me/api_keys',
    {
      schema: {
        summary: 'a new API key (t_expiration optional, ISO date)',
        tags: ['users'],
        body: settingsBody,
      },
    },
    async (request) => {
      const who = await need(request, 'viewer');
      const raw = single(requestParams(request), 't_expiration');
      let expires: Date | null = null;
      if (raw) {
        expires = new Date(raw);
        if (Number.isNaN(expires.getTime()))
          throw new KubeqaError(
            'KQ_ERR_INVALID_ARGUMENT',
            `t_expiration '${raw}' is not a date`,
            'use ISO 8601, e.g. 2030-01-31T00:00:00Z',
          );
      }
      return shape(await createApiKey(database.query, who.userId, expires));
    },
  );
  api.delete(
    '/users/me/api_keys/:id',
    { schema: { summary: 'delete one of your API keys', tags: ['users'], params: idParams } },
    async (request) => {
      const who = await need(request, 'viewer');
      await deleteApiKey(database.query, who.userId, idOf(request));
      return { result: 1 };
    },
  );
}
