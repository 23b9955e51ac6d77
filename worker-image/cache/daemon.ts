// The cache as a service: the sidecar of a test pod (the runner asks it on localhost) or the
// daemon of a remote worker. POST /v1/assets/acquire {type, name, dest, sha256?} links the asset
// into dest; errors answer 503 with `cache failure: …` and `retryable: true`. GET /metrics and
// GET /healthz for the kubelet and Prometheus.
import Fastify, { type FastifyInstance } from 'fastify';
import { isAssetType } from '../../domain/assets/types.js';
import { KubeqaError } from '../../domain/errors.js';
import { type AssetCache, CacheFailure } from './cache.js';

interface AcquireBody {
  type: string;
  name: string;
  dest: string;
  sha256?: string;
}

export function cacheServer(cache: AssetCache): FastifyInstance {
  const app = Fastify({ logger: false, bodyLimit: 64 * 1024 });
  app.get('/healthz', async () => ({ status: 'ok', directory: cache.directory }));
  app.get('/metrics', async (_request, reply) =>
    reply.type('text/plain; version=0.0.4').send(cache.metrics.render(await cache.usage())),
  );
  app.post<{ Body: AcquireBody }>(
    '/v1/assets/acquire',
    {
      schema: {
        body: {
          type: 'object',
          required: ['type', 'name', 'dest'],
          additionalProperties: false,
          properties: {
            type: { type: 'string' },
            name: { type: 'string', maxLength: 255 },
            dest: { type: 'string', maxLength: 4096 },
            sha256: { type: 'string' },
          },
        },
      },
    },
    async (request, reply) => {
      const { type, name, dest, sha256 } = request.body;
      if (!isAssetType(type))
        return reply.code(400).send({ error: `'${type}' is not an asset type (iso, hdd, repo, other)` });
      try {
        return await cache.acquire({ type, name, dest, ...(sha256 ? { sha256 } : {}) });
      } catch (error) {
        if (error instanceof CacheFailure) {
          return reply.code(503).send({ error: error.message, code: error.code, retryable: true });
        }
        if (error instanceof KubeqaError)
          return reply.code(400).send({ error: error.message, code: error.code });
        throw error;
      }
    },
  );
  return app;
}
