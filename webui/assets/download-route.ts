// A fastify plugin that serves asset files to remote workers (their cache in remote mode):
//   GET|HEAD /api/v1/assets/:type/:name/file
// Requests must be signed with an API key as openQA's clients sign them, checked by the API's own
// verifier (verifyApiKeyRequest in webui/auth/authenticate.ts), or carry a test pod's job token
// when the server passes `verifyJobToken`: no signature → 401, unknown or expired key, wrong
// signature or a time outside ±300 s → 403 with the API's reason. Range requests (`bytes=N-`) let
// an interrupted download resume. The key lookup is injected, so the server wires it to its
// API-key table (apiKeyWithUser) and tests to a map.
import type { FastifyPluginAsync, FastifyReply, FastifyRequest } from 'fastify';
import { assetKey, isAssetType } from '../../domain/assets/types.js';
import { isKubeqaError, KubeqaError } from '../../domain/errors.js';
import type { AssetStore } from '../../runtime/storage/store.js';
import { type SigningKey, type SigningKeyLookup, verifyApiKeyRequest } from '../auth/authenticate.js';

export interface AssetDownloadRouteOptions {
  store: AssetStore;
  /** An API key's secret and whether it expired, or undefined when there is no such key. */
  lookupKey: SigningKeyLookup<SigningKey>;
  /**
   * Whether a test pod's job token (`Authorization: Bearer …`) may download assets; without this
   * option only API-key signatures are accepted.
   */
  verifyJobToken?: (token: string) => Promise<boolean> | boolean;
  /** Seconds since the epoch (tests pin it). */
  nowSeconds?: () => number;
}

interface Params {
  type: string;
  name: string;
}

function header(request: FastifyRequest, name: string): string | undefined {
  const value = request.headers[name];
  return Array.isArray(value) ? value[0] : value;
}

/** Refuse with the reason in the body and in a header (a HEAD answer has no body). */
function refuse(reply: FastifyReply, status: number, error: string) {
  return reply.code(status).header('X-Kubeqa-Error', error).send({ error });
}

export const assetDownloadRoute: FastifyPluginAsync<AssetDownloadRouteOptions> = async (app, options) => {
  const authenticate = async (request: FastifyRequest, reply: FastifyReply): Promise<boolean> => {
    const bearer = /^Bearer (\S+)$/.exec(header(request, 'authorization') ?? '')?.[1];
    if (bearer && options.verifyJobToken) {
      if (await options.verifyJobToken(bearer)) return true;
      await refuse(reply, 403, 'unknown or expired job token');
      return false;
    }
    let signed: SigningKey | undefined;
    try {
      signed = await verifyApiKeyRequest(request, options.lookupKey, options.nowSeconds?.());
    } catch (error) {
      if (!isKubeqaError(error) || error.code !== 'KQ_ERR_UNAUTHORIZED') throw error;
      await refuse(reply, 403, error.message);
      return false;
    }
    if (signed) return true;
    await refuse(
      reply,
      401,
      'authentication required: sign the request with an API key (X-API-Key, X-API-Microtime, X-API-Hash)',
    );
    return false;
  };

  const serve = async (
    request: FastifyRequest<{ Params: Params }>,
    reply: FastifyReply,
    withBody: boolean,
  ) => {
    if (!(await authenticate(request, reply))) return reply;
    const { type, name } = request.params;
    let key: string;
    try {
      if (!isAssetType(type)) throw new KubeqaError('KQ_ERR_INVALID_ASSET', `'${type}' is not an asset type`);
      key = assetKey(type, name);
    } catch (error) {
      return refuse(reply, 400, (error as Error).message);
    }
    const facts = await options.store.stat(key);
    if (!facts) return refuse(reply, 404, `asset ${key} does not exist`);
    let offset = 0;
    const range = /^bytes=(\d+)-$/.exec(header(request, 'range') ?? '');
    if (range?.[1]) {
      offset = Number(range[1]);
      if (offset >= facts.size) {
        return reply
          .code(416)
          .header('Content-Range', `bytes */${facts.size}`)
          .send({ error: 'range not satisfiable' });
      }
      reply.code(206).header('Content-Range', `bytes ${offset}-${facts.size - 1}/${facts.size}`);
    }
    reply
      .header('Accept-Ranges', 'bytes')
      .header('ETag', `"${facts.etag}"`)
      .header('Last-Modified', facts.lastModified.toUTCString())
      .header('Content-Type', 'application/octet-stream')
      .header('Content-Length', String(facts.size - offset));
    if (facts.sha256) reply.header('X-Kubeqa-Sha256', facts.sha256);
    if (!withBody) return reply.send();
    return reply.send(await options.store.get(key, { offset }));
  };

  app.get<{ Params: Params }>(
    '/api/v1/assets/:type/:name/file',
    { exposeHeadRoute: false },
    (request, reply) => serve(request, reply, true),
  );
  app.head<{ Params: Params }>('/api/v1/assets/:type/:name/file', (request, reply) =>
    serve(request, reply, false),
  );
};
