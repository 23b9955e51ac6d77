// /healthz of the web server: answers when the process serves and its database answers.
import type { FastifyInstance } from 'fastify';
import type { OpenDatabase } from '../db/connect.js';

export function healthRoute(
  app: FastifyInstance,
  database: OpenDatabase,
  extra: Record<string, unknown> = {},
): void {
  app.get('/healthz', async (_request, reply) => {
    const ok = await database
      .query('select 1')
      .then(() => true)
      .catch(() => false);
    return reply
      .code(ok ? 200 : 503)
      .send({ status: ok ? 'ok' : 'database unreachable', database: database.kind, ...extra });
  });
}
