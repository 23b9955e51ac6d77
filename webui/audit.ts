// Audit events: every successful change made through the API is recorded once, after the
// response, with who made it, what (method and route) and the parameters (secrets left out).
// Reads are not recorded. Failures to record are logged, never turned into request errors.
import type { FastifyInstance } from 'fastify';
import type { OpenDatabase } from '../db/connect.js';
import type { Logger } from '../runtime/logger.js';
import { requestParams } from './params.js';

const SECRET_KEYS = /pass|secret|token|key$/i;

export function installAudit(app: FastifyInstance, database: OpenDatabase, log: Logger): void {
  app.addHook('onResponse', async (request, reply) => {
    if (['GET', 'HEAD', 'OPTIONS'].includes(request.method) || reply.statusCode >= 400) return;
    const route = request.routeOptions.url;
    if (!route?.startsWith('/api/') || !request.principalPromise) return;
    try {
      const principal = await request.principalPromise;
      const params: Record<string, unknown> = {};
      for (const [k, v] of Object.entries(requestParams(request)))
        params[k] = SECRET_KEYS.test(k) ? '[redacted]' : v;
      await database.query(
        'insert into audit_events (user_id, event, event_data) values ($1, $2, $3::jsonb)',
        [
          principal?.userId ?? null,
          `${request.method} ${route}`,
          JSON.stringify({
            url: request.url.split('?')[0],
            params: route.includes('artefacts') ? {} : params,
            status: reply.statusCode,
          }),
        ],
      );
    } catch (error) {
      log.warn({ err: error, route }, 'could not record an audit event');
    }
  });
}
