// The UI's own JSON routes (under /api/v1/ui, read-only, public like every read), the runner's
// live routes (per-job token), and the two websockets:
//   GET  /api/v1/ui/overview?distri&version&flavor&arch&result&group_id&builds
//   GET  /api/v1/ui/build?build=…[&group_id=…]       the scenarios × machines of a build
//   GET  /api/v1/ui/jobs/:id                         the job page's data in one answer
//   GET  /api/v1/jobs/:id/screenshots/:hash          a step's screenshot (immutable)
//   PUT  /api/v1/jobs/:id/live/frame                 (runner) the newest screen (PNG or JPEG body)
//   POST /api/v1/jobs/:id/live/status                (runner) {module, step, activity, serial: [lines]}
//   GET  /api/v1/jobs/:id/live        (websocket)    frames (binary) and status (JSON) as they arrive
//   GET  /api/v1/events               (websocket)    job events (JSON), for every open page
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { checkJobToken } from '../../db/results.js';
import { KubeqaError } from '../../domain/errors.js';
import { FINAL_STATES, isJobResult } from '../../domain/jobs/states.js';
import { idOf, idParams } from '../api/common.js';
import type { ApiContext } from '../app.js';
import { EventFanout } from './event-fanout.js';
import { LiveHub } from './live-hub.js';
import { buildJobs, jobPage, overview } from './queries.js';

const FINAL = new Set<string>(FINAL_STATES);
const MAX_FRAME = 8 * 1024 * 1024;

const overviewQuery = {
  type: 'object',
  properties: {
    distri: { type: 'string', maxLength: 200 },
    version: { type: 'string', maxLength: 200 },
    flavor: { type: 'string', maxLength: 200 },
    arch: { type: 'string', maxLength: 200 },
    result: { type: 'string', maxLength: 40 },
    group_id: { type: 'integer', minimum: 1 },
    builds: { type: 'integer', minimum: 1, maximum: 100 },
  },
  additionalProperties: false,
} as const;

const liveStatusBody = {
  type: 'object',
  properties: {
    module: { type: 'string', maxLength: 200 },
    step: { type: 'integer', minimum: 0 },
    activity: { type: 'string', maxLength: 2000 },
    serial: { type: 'array', items: { type: 'string', maxLength: 10000 }, maxItems: 1000 },
  },
  additionalProperties: false,
} as const;

function isImage(data: Buffer): boolean {
  const png = data.subarray(0, 8).toString('hex') === '89504e470d0a1a0a';
  const jpeg = data[0] === 0xff && data[1] === 0xd8;
  return png || jpeg;
}

export interface UiRoutes {
  hub: LiveHub;
  events: EventFanout;
}

export async function uiApiRoutes(api: FastifyInstance, ctx: ApiContext): Promise<UiRoutes> {
  const { database, blobs } = ctx;
  const hub = new LiveHub();
  const events = new EventFanout((event) => {
    if (event.type === 'job.state' && typeof event.id === 'number' && FINAL.has(String(event.state)))
      hub.end(event.id, String(event.state), String(event.result));
  });
  await events.start(database);
  api.addHook('onClose', async () => events.close());

  api.get(
    '/ui/session',
    {
      schema: {
        summary: 'who the browser is logged in as (user null when not), with the CSRF token',
        tags: ['ui'],
      },
    },
    async (request) => {
      const who = await request.authenticate().catch(() => undefined);
      if (who?.via !== 'session') return { user: null };
      return { user: who.username, role: who.role, csrf_token: who.csrfToken };
    },
  );

  api.get(
    '/ui/overview',
    {
      schema: {
        summary: 'the test overview: newest builds per job group with result counts',
        tags: ['ui'],
        querystring: overviewQuery,
      },
    },
    async (request) => {
      const p = request.query as Record<string, string | number | undefined>;
      if (p.result !== undefined && !isJobResult(String(p.result)))
        throw new KubeqaError('KQ_ERR_INVALID_ARGUMENT', `result '${p.result}' is not a job result`);
      const groups = await overview(database.query, {
        distri: p.distri as string | undefined,
        version: p.version as string | undefined,
        flavor: p.flavor as string | undefined,
        arch: p.arch as string | undefined,
        result: p.result as string | undefined,
        groupId: p.group_id as number | undefined,
        builds: p.builds as number | undefined,
      });
      return { groups };
    },
  );

  api.get(
    '/ui/build',
    {
      schema: {
        summary: 'the latest job of every scenario of a build',
        tags: ['ui'],
        querystring: {
          type: 'object',
          required: ['build'],
          properties: {
            build: { type: 'string', maxLength: 200 },
            group_id: { type: 'integer', minimum: 1 },
          },
          additionalProperties: false,
        },
      },
    },
    async (request) => {
      const { build, group_id } = request.query as { build: string; group_id?: number };
      const [group] =
        group_id === undefined
          ? []
          : await database.query<{ id: number; name: string }>(
              'select id, name from job_groups where id = $1',
              [group_id],
            );
      if (group_id !== undefined && !group)
        throw new KubeqaError('KQ_ERR_NOT_FOUND', `job group ${group_id} does not exist`);
      return { build, group: group ?? null, jobs: await buildJobs(database.query, build, group_id) };
    },
  );

  api.get(
    '/ui/jobs/:id',
    {
      schema: {
        summary: "the job page's data: job, modules with steps, files, comments, cluster",
        tags: ['ui'],
        params: idParams,
      },
    },
    async (request) => {
      const id = idOf(request);
      const page = await jobPage(database.query, id);
      if (!page) throw new KubeqaError('KQ_ERR_NOT_FOUND', `job ${id} does not exist`);
      return { ...page, live: hub.stats(id) };
    },
  );

  api.get(
    '/jobs/:id/screenshots/:hash',
    {
      schema: {
        summary: "a screenshot of the job's steps",
        tags: ['ui'],
        params: {
          type: 'object',
          required: ['id', 'hash'],
          properties: {
            id: { type: 'string', pattern: '^[0-9]+$' },
            hash: { type: 'string', pattern: '^[0-9a-f]{64}$' },
          },
        },
      },
    },
    async (request, reply) => {
      const id = idOf(request);
      const { hash } = request.params as { hash: string };
      const [link] = await database.query('select 1 from screenshot_links where job_id = $1 and hash = $2', [
        id,
        hash,
      ]);
      if (!link) throw new KubeqaError('KQ_ERR_NOT_FOUND', `job ${id} has no screenshot ${hash}`);
      const data = await blobs.get(hash);
      if (!data) throw new KubeqaError('KQ_ERR_NOT_FOUND', `screenshot ${hash} is missing from the store`);
      return reply
        .type(data[0] === 0xff ? 'image/jpeg' : 'image/png')
        .header('cache-control', 'public, max-age=31536000, immutable')
        .send(data);
    },
  );

  const runnerOf = async (request: FastifyRequest) => {
    const id = idOf(request);
    const header = request.headers['x-kubeqa-job-token'];
    const { state } = await checkJobToken(database.query, id, Array.isArray(header) ? header[0] : header);
    if (FINAL.has(state))
      throw new KubeqaError(
        'KQ_ERR_CONFLICT',
        `job ${id} is ${state}; it takes no more live data`,
        'stop the job',
      );
    return id;
  };

  api.put(
    '/jobs/:id/live/frame',
    {
      bodyLimit: MAX_FRAME,
      schema: { summary: '(runner) the newest screen of a running job', tags: ['runner'], params: idParams },
    },
    async (request) => {
      const id = await runnerOf(request);
      const body = request.body;
      if (!Buffer.isBuffer(body) || !isImage(body))
        throw new KubeqaError(
          'KQ_ERR_INVALID_ARGUMENT',
          'a live frame must be a PNG or JPEG image sent as application/octet-stream',
        );
      hub.frame(id, body);
      return { viewers: hub.stats(id).viewers };
    },
  );

  api.post(
    '/jobs/:id/live/status',
    {
      schema: {
        summary: '(runner) current module/step and new serial lines',
        tags: ['runner'],
        params: idParams,
        body: liveStatusBody,
      },
    },
    async (request) => {
      const id = await runnerOf(request);
      const body = request.body as { module?: string; step?: number; activity?: string; serial?: string[] };
      hub.status(id, { module: body.module, step: body.step, activity: body.activity }, body.serial ?? []);
      return { viewers: hub.stats(id).viewers };
    },
  );

  api.get(
    '/jobs/:id/live',
    {
      websocket: true,
      schema: { summary: 'live view of a running job (websocket)', tags: ['ui'], params: idParams },
    },
    async (socket, request) => {
      const id = idOf(request);
      const unwatch = hub.watch(id, socket);
      socket.on('close', unwatch);
      socket.on('error', unwatch);
    },
  );

  api.get(
    '/events',
    { websocket: true, schema: { summary: 'job events for open pages (websocket)', tags: ['ui'] } },
    (socket) => {
      const remove = events.add(socket);
      socket.on('close', remove);
      socket.on('error', remove);
    },
  );

  return { hub, events };
}
