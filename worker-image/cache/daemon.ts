// The cache as a service: the sidecar of a test pod (the runner asks it on localhost) or the
// daemon of a remote worker. POST /v1/assets/acquire {type, name, dest | job, sha256?} links the
// asset into dest (or <CACHEDIRECTORY>/pool/<job>/); DELETE /v1/jobs/<job> drops a job's links.
// Errors answer 503 with `cache failure: …` and `retryable: true`. GET /metrics and GET /healthz
// for the kubelet and Prometheus. Listens on TCP or on a unix socket (listenCache).
import { rm } from 'node:fs/promises';
import { createConnection } from 'node:net';
import Fastify, { type FastifyInstance } from 'fastify';
import { isAssetType } from '../../domain/assets/types.js';
import { KubeqaError } from '../../domain/errors.js';
import { type AssetCache, CacheFailure } from './cache.js';

interface AcquireBody {
  type: string;
  name: string;
  dest?: string;
  job?: string;
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
          required: ['type', 'name'],
          additionalProperties: false,
          properties: {
            type: { type: 'string' },
            name: { type: 'string', maxLength: 255 },
            dest: { type: 'string', maxLength: 4096 },
            job: { type: 'string', maxLength: 64 },
            sha256: { type: 'string' },
          },
        },
      },
    },
    async (request, reply) => {
      const { type, name, dest, job, sha256 } = request.body;
      if (!isAssetType(type))
        return reply.code(400).send({ error: `'${type}' is not an asset type (iso, hdd, repo, other)` });
      try {
        return await cache.acquire({
          type,
          name,
          ...(dest ? { dest } : {}),
          ...(job ? { job } : {}),
          ...(sha256 ? { sha256 } : {}),
        });
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
  app.delete<{ Params: { job: string } }>('/v1/jobs/:job', async (request, reply) => {
    try {
      await cache.releaseJob(request.params.job);
      return reply.code(204).send();
    } catch (error) {
      if (error instanceof KubeqaError)
        return reply.code(400).send({ error: error.message, code: error.code });
      throw error;
    }
  });
  return app;
}

/** True when something accepts connections on the unix socket at `path`. */
function socketAnswers(path: string): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = createConnection({ path });
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

/** Listen on a unix socket (removing a stale one a crashed daemon left) or on host:port. */
export async function listenCache(
  app: FastifyInstance,
  where: { socket: string } | { host: string; port: number },
): Promise<string> {
  if ('socket' in where) {
    if (await socketAnswers(where.socket)) {
      throw new KubeqaError(
        'KQ_ERR_CONFLICT',
        `another cache daemon already listens on ${where.socket}`,
        "give each pod its own socket path (e.g. in the pod's /tmp), or stop the other daemon",
      );
    }
    await rm(where.socket, { force: true });
    await app.listen({ path: where.socket });
    return `unix:${where.socket}`;
  }
  return app.listen({ host: where.host, port: where.port });
}
