// The live routes on the real server and PostgreSQL: only the job's runner (its token) may push,
// only images are frames, a finished job takes no more live data (409, so the runner stops),
// and websocket viewers get frames, status and the end as they happen.

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startServer, type TestServer } from '../api/server.js';

let s: TestServer;
type WebSocket = Awaited<ReturnType<TestServer['app']['injectWS']>>;
let jobId: number;
let token: string;
const PNG = Buffer.concat([Buffer.from('89504e470d0a1a0a', 'hex'), Buffer.from('frame-1')]);

beforeAll(async () => {
  s = await startServer('ui_live_routes');
  jobId = (await s.api('POST', 'jobs', { TEST: 'live', DISTRI: 'd', BUILD: '1' })).body.id;
  token = (await s.api('POST', `jobs/${jobId}/token`)).body.token;
});
afterAll(async () => s?.close());

const push = (path: string, body: Buffer | object, jobToken = token) =>
  fetch(`${s.url}/api/v1/jobs/${jobId}/live/${path}`, {
    method: Buffer.isBuffer(body) ? 'PUT' : 'POST',
    headers: {
      'x-kubeqa-job-token': jobToken,
      'content-type': Buffer.isBuffer(body) ? 'application/octet-stream' : 'application/json',
    },
    body: Buffer.isBuffer(body) ? body : JSON.stringify(body),
  });

function collect(ws: WebSocket): {
  frames: Buffer[];
  messages: Record<string, unknown>[];
  next(): Promise<void>;
} {
  const frames: Buffer[] = [];
  const messages: Record<string, unknown>[] = [];
  let wake: (() => void) | undefined;
  ws.on('message', (data: Buffer, binary: boolean) => {
    if (binary) frames.push(Buffer.from(data));
    else messages.push(JSON.parse(data.toString()));
    wake?.();
  });
  return {
    frames,
    messages,
    next: () =>
      new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error('no websocket message within 10 s')), 10_000);
        wake = () => {
          clearTimeout(timer);
          resolve();
        };
      }),
  };
}

describe('live view routes', () => {
  it('refuses pushes without the job token and frames that are not images', async () => {
    expect((await push('frame', PNG, 'wrong-token')).status).toBe(403);
    const bad = await push('frame', Buffer.from('not an image'));
    expect(bad.status).toBe(400);
    expect(((await bad.json()) as { error: string }).error).toContain('must be a PNG or JPEG image');
    expect((await push('status', { serial: 'not a list' })).status).toBe(400);
  });

  it('fans frames and status out to every viewer, then announces the end', async () => {
    const a = await s.app.injectWS(`/api/v1/jobs/${jobId}/live`);
    const b = await s.app.injectWS(`/api/v1/jobs/${jobId}/live`);
    const ca = collect(a);
    const cb = collect(b);
    let arrived = Promise.all([ca.next(), cb.next()]);
    const r = await push('frame', PNG);
    expect(r.status).toBe(200);
    expect(((await r.json()) as { viewers: number }).viewers).toBe(2);
    await arrived;
    expect(ca.frames).toEqual([PNG]);
    expect(cb.frames).toEqual([PNG]);
    arrived = Promise.all([ca.next(), cb.next()]);
    await push('status', { module: 'boot', step: 2, serial: ['hello from the guest'] });
    await arrived;
    expect(ca.messages.at(-1)).toMatchObject({
      type: 'status',
      status: { module: 'boot', step: 2 },
      serial: ['hello from the guest'],
    });
    // the job is cancelled: viewers learn it from the job events, the runner from a 409
    const ended = ca.next();
    await s.api('POST', `jobs/${jobId}/cancel`);
    await ended;
    expect(ca.messages.at(-1)).toEqual({ type: 'end', state: 'cancelled', result: 'user_cancelled' });
    const late = await push('frame', PNG);
    expect(late.status).toBe(409);
    expect(((await late.json()) as { error: string }).error).toContain('takes no more live data');
    a.terminate();
    b.terminate();
  });

  it('sends job events to every open page over /api/v1/events', async () => {
    const ws = await s.app.injectWS('/api/v1/events');
    const c = collect(ws);
    const arrived = c.next();
    const created = (await s.api('POST', 'jobs', { TEST: 'other', DISTRI: 'd', BUILD: '1' })).body.id;
    await arrived;
    expect(c.messages[0]).toEqual({ type: 'job.created', ids: [created] });
    const commented = c.next();
    await s.api('POST', `jobs/${created}/comments`, { text: 'seen' });
    await commented;
    expect(c.messages[1]).toEqual({ type: 'job.comment', id: created });
    ws.terminate();
  });
});
