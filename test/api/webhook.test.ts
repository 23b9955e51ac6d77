// Job events reach an external HTTP receiver, signed, in order, retried after a 5xx.
import { createServer, type IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startWebhookSink, webhookSignature } from '../../webui/events/webhook.js';
import { waitUntil } from '../helpers/wait-until.js';
import { startServer, type TestServer } from './server.js';

let s: TestServer;
beforeAll(async () => {
  s = await startServer('api_webhook');
});
afterAll(async () => s?.close());

describe('webhook sink', () => {
  it('posts each committed job event with its signature, retrying a failed delivery', async () => {
    const received: { body: string; signature: string; type: string }[] = [];
    let failuresLeft = 1;
    const receiver = createServer((req: IncomingMessage, res) => {
      let body = '';
      req.on('data', (c) => {
        body += c;
      });
      req.on('end', () => {
        if (failuresLeft-- > 0) {
          res.statusCode = 503;
          res.end();
          return;
        }
        received.push({
          body,
          signature: String(req.headers['x-kubeqa-signature']),
          type: String(req.headers['x-kubeqa-event']),
        });
        res.end('ok');
      });
    });
    await new Promise<void>((r) => receiver.listen(0, '127.0.0.1', r));
    const url = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/hook`;
    const stop = await startWebhookSink(s.database, { url, secret: 'hooksecret', retryDelayMs: 10 });
    const id = (await s.api('POST', 'jobs', { TEST: 'hooked' })).body.id;
    await s.api('POST', `jobs/${id}/cancel`);
    await waitUntil(() => received.length >= 2, 10_000);
    await stop();
    receiver.close();
    expect(received.map((r) => JSON.parse(r.body))).toEqual([
      { type: 'job.created', ids: [id] },
      { type: 'job.state', id, state: 'cancelled', result: 'user_cancelled', reason: null },
    ]);
    for (const r of received) expect(r.signature).toBe(webhookSignature('hooksecret', r.body));
    expect(received.map((r) => r.type)).toEqual(['job.created', 'job.state']);
  });
});
