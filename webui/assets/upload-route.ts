// The runner's upload of assets a job produced (PUBLISH_HDD_n, FORCE_PUBLISH_HDD_n,
// PUBLISH_PFLASH_VARS, STORE_HDD_n; domain/assets/outputs.ts), authorised by the job's token:
//   PUT /api/v1/jobs/:id/assets/hdd/:name    body: the image (application/octet-stream, streamed)
//   headers: X-Kubeqa-Job-Token, optional X-Kubeqa-Sha256 (checked), Content-Length
// The body streams into the store (S3 multipart for big images, nothing visible until complete and
// verified), then the asset is registered as ready and produced by the job, so it belongs to the
// job's group and counts against its size limit. Only names the job's settings publish are taken.

import type { Readable } from 'node:stream';
import type { FastifyPluginAsync, FastifyRequest } from 'fastify';
import { registerProducedAsset } from '../../db/assets.js';
import type { OpenDatabase } from '../../db/connect.js';
import { checkJobToken } from '../../db/results.js';
import { outputAssets } from '../../domain/assets/outputs.js';
import { assetKey, validateSha256 } from '../../domain/assets/types.js';
import { KubeqaError } from '../../domain/errors.js';
import type { AssetStore } from '../../runtime/storage/store.js';

export interface AssetUploadRouteOptions {
  database: OpenDatabase;
  store: AssetStore;
  /** Called after an asset was registered (e.g. to run group cleanup). */
  onRegistered?: (asset: { type: string; name: string; jobId: number }) => void;
}

function header(request: FastifyRequest, name: string): string | undefined {
  const value = request.headers[name];
  return Array.isArray(value) ? value[0] : value;
}

export const assetUploadRoute: FastifyPluginAsync<AssetUploadRouteOptions> = async (app, options) => {
  // Images are gigabytes: hand the route the raw stream instead of a buffer.
  app.removeContentTypeParser('application/octet-stream');
  app.addContentTypeParser(
    'application/octet-stream',
    { bodyLimit: Number.MAX_SAFE_INTEGER },
    (_req, payload, done) => done(null, payload),
  );
  app.put<{ Params: { id: string; type: string; name: string } }>(
    '/api/v1/jobs/:id/assets/:type/:name',
    { bodyLimit: Number.MAX_SAFE_INTEGER },
    async (request, reply) => {
      const { id: rawId, type, name } = request.params;
      if (!/^\d+$/.test(rawId))
        throw new KubeqaError('KQ_ERR_INVALID_ARGUMENT', `job id must be a positive integer, got '${rawId}'`);
      const jobId = Number(rawId);
      await checkJobToken(options.database.query, jobId, header(request, 'x-kubeqa-job-token'));
      if (type !== 'hdd')
        throw new KubeqaError('KQ_ERR_INVALID_ARGUMENT', `jobs publish hdd assets only, not '${type}'`);
      const key = assetKey('hdd', name);
      const [job] = await options.database.query<{ settings: Record<string, string | string[]> }>(
        'select settings from jobs where id = $1',
        [jobId],
      );
      const flat = Object.fromEntries(
        Object.entries(job?.settings ?? {}).map(([k, v]) => [k, Array.isArray(v) ? v.join(',') : v]),
      );
      // The runner knows whether the job passed; the server accepts every name the settings publish.
      const allowed = outputAssets(flat, { id: jobId, passed: true }).map((o) => o.name);
      if (!allowed.includes(name)) {
        throw new KubeqaError(
          'KQ_ERR_FORBIDDEN',
          `job ${jobId} does not publish '${name}'`,
          allowed.length > 0
            ? `it publishes ${allowed.join(', ')}`
            : 'set PUBLISH_HDD_n or STORE_HDD_n in the job settings',
        );
      }
      const expected = header(request, 'x-kubeqa-sha256');
      const length = header(request, 'content-length');
      const body = request.body as Readable | undefined;
      if (!body || typeof (body as Readable).pipe !== 'function')
        throw new KubeqaError('KQ_ERR_INVALID_ARGUMENT', 'send the image as application/octet-stream');
      const stored = await options.store.put(key, body, {
        ...(length ? { size: Number(length) } : {}),
        ...(expected ? { expectedSha256: validateSha256(expected) } : {}),
      });
      await registerProducedAsset(options.database.query, jobId, {
        type: 'hdd',
        name,
        size: stored.size,
        sha256: stored.sha256,
      });
      options.onRegistered?.({ type: 'hdd', name, jobId });
      return reply.code(201).send({ type: 'hdd', name, size: stored.size, sha256: stored.sha256 });
    },
  );
};
