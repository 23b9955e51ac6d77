// The outside face of job events: every committed job event (db/job-events.ts) is POSTed as
// JSON to a URL configured per deployment, e.g. a chat bot, a CI system or an event bus bridge.
//   body     {"type":"job.state","id":42,"state":"done","result":"passed", "reason":null}
//            or {"type":"job.created"|"job.deleted","ids":[…]}
//   headers  content-type: application/json
//            x-kubeqa-event: the type
//            x-kubeqa-signature: sha256=<hex HMAC-SHA256 of the body with the shared secret> (when a secret is set)
// Delivery is at most once per attempt with a few retries (1 s, 2 s, 4 s …) on network errors and
// 5xx; the receiver should treat events as hints and read the API for the truth.
import { createHmac } from 'node:crypto';
import type { OpenDatabase } from '../../db/connect.js';
import { type JobEvent, subscribeJobEvents } from '../../db/job-events.js';
import type { Logger } from '../../runtime/logger.js';

export interface WebhookOptions {
  url: string;
  /** Shared secret for the x-kubeqa-signature header. */
  secret?: string;
  /** Attempts per event (default 4). */
  attempts?: number;
  /** First retry delay in ms, doubled each time (default 1000). */
  retryDelayMs?: number;
  timeoutMs?: number;
  log?: Logger;
}

export function webhookSignature(secret: string, body: string): string {
  return `sha256=${createHmac('sha256', secret).update(body).digest('hex')}`;
}

/** Starts forwarding job events to the webhook; resolves with a function that stops it. */
export async function startWebhookSink(
  database: OpenDatabase,
  options: WebhookOptions,
): Promise<() => Promise<void>> {
  let queue = Promise.resolve();
  let stopped = false;
  const deliver = async (event: JobEvent) => {
    const body = JSON.stringify(event);
    const headers: Record<string, string> = {
      'content-type': 'application/json',
      'x-kubeqa-event': event.type,
    };
    if (options.secret) headers['x-kubeqa-signature'] = webhookSignature(options.secret, body);
    const attempts = options.attempts ?? 4;
    let delay = options.retryDelayMs ?? 1000;
    for (let attempt = 1; attempt <= attempts && !stopped; attempt++) {
      try {
        const res = await fetch(options.url, {
          method: 'POST',
          headers,
          body,
          signal: AbortSignal.timeout(options.timeoutMs ?? 10_000),
        });
        if (res.status < 500) {
          if (res.status >= 400)
            options.log?.warn({ status: res.status, type: event.type }, 'webhook refused an event');
          return;
        }
      } catch (error) {
        options.log?.warn({ err: error, attempt }, 'webhook delivery failed');
      }
      if (attempt < attempts) await new Promise((r) => setTimeout(r, delay));
      delay *= 2;
    }
  };
  const unlisten = await subscribeJobEvents(database, (event) => {
    // in order, one at a time: a slow receiver delays later events rather than reordering them
    queue = queue.then(() => deliver(event));
  });
  return async () => {
    stopped = true;
    await unlisten();
    await queue;
  };
}
