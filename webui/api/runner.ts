// Worker-facing routes for the runner, authorised by the per-job token (X-Kubeqa-Job-Token):
//   POST /jobs/:id/token                 (operator) issue a token for the job's runner
//   POST /jobs/:id/status                per-module progress (JSON, see docs/api.md)
//   POST /jobs/:id/artefacts             {name, hash}: link an already stored file, else 404
//   PUT  /jobs/:id/artefacts/:name       the file's bytes (application/octet-stream); stored once per SHA-256
//   POST /jobs/:id/set_done              result=… [reason=…]: the job is done
//   GET  /jobs/:id/artefacts/:name       (anyone) download a result file
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { setDone } from '../../db/job-actions.js';
import { checkJobToken, issueJobToken, knownBlob, linkArtefact, writeStatus } from '../../db/results.js';
import { KubeqaError } from '../../domain/errors.js';
import { isJobResult, isJobState } from '../../domain/jobs/states.js';
import { MODULE_RESULTS, type ModuleStatus } from '../../domain/runner/status.js';
import type { ApiContext } from '../app.js';
import { requestParams, single } from '../params.js';
import { idOf, idParams, need } from './common.js';

const NAME = /^[A-Za-z0-9._-][A-Za-z0-9._/-]{0,254}$/;

const statusBody = {
  type: 'object',
  properties: {
    state: { type: 'string', enum: ['setup', 'running', 'uploading'] },
    /** Why the job is still in setup (e.g. waiting for its assets); shown as the job's reason. */
    reason: { type: 'string', maxLength: 1000 },
    modules: {
      type: 'array',
      items: {
        type: 'object',
        required: ['name', 'result'],
        properties: {
          name: { type: 'string', minLength: 1 },
          category: { type: 'string' },
          script: { type: 'string' },
          result: { type: 'string', enum: [...MODULE_RESULTS] },
          milestone: { type: 'boolean' },
          important: { type: 'boolean' },
          fatal: { type: 'boolean' },
          always_rollback: { type: 'boolean' },
          steps: {
            type: 'array',
            items: {
              type: 'object',
              required: ['num', 'kind'],
              properties: {
                num: { type: 'integer', minimum: 1 },
                kind: { type: 'string', enum: ['screen', 'serial', 'text', 'audio'] },
                result: { type: 'string' },
                title: { type: 'string' },
                text: { type: 'string' },
                needle: { type: 'string' },
                similarity: { type: 'number' },
                screenshot: { type: 'string', pattern: '^[0-9a-f]{64}$' },
                details: {},
              },
            },
          },
        },
      },
    },
  },
  required: ['modules'],
} as const;

export async function runnerRoutes(api: FastifyInstance, { database, blobs }: ApiContext): Promise<void> {
  const token = (request: FastifyRequest) => {
    const value = request.headers['x-kubeqa-job-token'];
    return Array.isArray(value) ? value[0] : value;
  };
  const authorise = async (request: FastifyRequest) => {
    const id = idOf(request);
    if (!token(request)) {
      await need(request, 'operator');
      return id;
    }
    await checkJobToken(database.query, id, token(request));
    return id;
  };

  api.post(
    '/jobs/:id/token',
    { schema: { summary: "issue the runner's per-job token", tags: ['runner'], params: idParams } },
    async (request) => {
      await need(request, 'operator');
      return { token: await issueJobToken(database.query, idOf(request)) };
    },
  );

  api.post(
    '/jobs/:id/status',
    {
      schema: {
        summary: 'per-module progress from the runner',
        tags: ['runner'],
        params: idParams,
        body: statusBody,
      },
    },
    async (request) => {
      const id = await authorise(request);
      const body = request.body as { state?: string; reason?: string; modules: ModuleStatus[] };
      const state = body.state ?? 'running';
      if (!isJobState(state))
        throw new KubeqaError('KQ_ERR_INVALID_ARGUMENT', `state '${state}' is not a job state`);
      await database.transaction((q) => writeStatus(q, id, state, body.modules, body.reason));
      return { result: 1 };
    },
  );

  api.post(
    '/jobs/:id/artefacts',
    {
      schema: {
        summary: 'link a stored file to the job by hash (no upload needed when the server has it)',
        tags: ['runner'],
        params: idParams,
        body: {
          type: 'object',
          required: ['name', 'hash'],
          properties: {
            name: { type: 'string', pattern: NAME.source },
            hash: { type: 'string', pattern: '^[0-9a-f]{64}$' },
          },
        },
      },
    },
    async (request, reply) => {
      const id = await authorise(request);
      const { name, hash } = request.body as { name: string; hash: string };
      if (!(await knownBlob(database.query, hash))) {
        return reply.status(404).send({
          error: `no stored file has the hash ${hash}; upload it`,
          error_status: 404,
          need_upload: true,
        });
      }
      await linkArtefact(database.query, id, name, hash);
      return { linked: true, uploaded: false };
    },
  );

  api.put(
    '/jobs/:id/artefacts/*',
    { schema: { summary: 'upload a result file (octet-stream body)', tags: ['runner'] } },
    async (request) => {
      const id = await authorise(request);
      const name = (request.params as { '*': string })['*'];
      if (!NAME.test(name) || name.includes('..'))
        throw new KubeqaError(
          'KQ_ERR_INVALID_ARGUMENT',
          `artefact name '${name}' is not allowed`,
          'use letters, digits, . _ - and /',
        );
      const body = request.body;
      if (!Buffer.isBuffer(body))
        throw new KubeqaError('KQ_ERR_INVALID_ARGUMENT', 'the body must be application/octet-stream');
      const { hash, created } = await blobs.put(body, contentTypeOf(name));
      await linkArtefact(database.query, id, name, hash, body.length, contentTypeOf(name));
      return { hash, uploaded: created, linked: true };
    },
  );

  api.get(
    '/jobs/:id/artefacts/*',
    { schema: { summary: 'download a result file of the job', tags: ['runner'] } },
    async (request, reply) => {
      const id = idOf(request);
      const name = (request.params as { '*': string })['*'];
      const [row] = await database.query<{ hash: string; content_type: string }>(
        `select a.hash, b.content_type from job_artefacts a join blobs b on b.hash = a.hash where a.job_id = $1 and a.name = $2`,
        [id, name],
      );
      if (!row) throw new KubeqaError('KQ_ERR_NOT_FOUND', `job ${id} has no result file ${name}`);
      const data = await blobs.get(row.hash);
      if (!data)
        throw new KubeqaError(
          'KQ_ERR_NOT_FOUND',
          `the content of ${name} (${row.hash}) is missing from the store`,
        );
      return reply.type(row.content_type).header('etag', `"${row.hash}"`).send(data);
    },
  );

  api.post(
    '/jobs/:id/set_done',
    { schema: { summary: 'the job is done (result=…)', tags: ['runner'], params: idParams } },
    async (request) => {
      const id = await authorise(request);
      const p = requestParams(request);
      const result = single(p, 'result') ?? 'passed';
      if (!isJobResult(result))
        throw new KubeqaError('KQ_ERR_INVALID_ARGUMENT', `result '${result}' is not a job result`);
      await setDone(database, id, result, single(p, 'reason'));
      return { result: 1 };
    },
  );
}

function contentTypeOf(name: string): string {
  if (name.endsWith('.png')) return 'image/png';
  if (name.endsWith('.txt') || name.endsWith('.log')) return 'text/plain';
  if (name.endsWith('.json')) return 'application/json';
  if (name.endsWith('.webm')) return 'video/webm';
  return 'application/octet-stream';
}
