// A client of the cache daemon's HTTP API (`kubeqa cache serve`), over its unix socket (the pod's
// sidecar) or TCP: acquire an asset for a job, release the job's links. A daemon's 503 answer is
// a CacheFailure (retryable), as the daemon's own errors are.

import { request } from 'node:http';
import { text as readText } from 'node:stream/consumers';
import type { AssetType } from '../../domain/assets/types.js';
import { KubeqaError } from '../../domain/errors.js';
import { type AcquireResult, CacheFailure } from './cache.js';

export type CacheEndpoint = { socket: string } | { url: string };

function call<T>(
  endpoint: CacheEndpoint,
  method: string,
  path: string,
  body?: unknown,
  signal?: AbortSignal,
): Promise<{ status: number; body: T }> {
  const payload = body === undefined ? undefined : JSON.stringify(body);
  const target =
    'socket' in endpoint
      ? { socketPath: endpoint.socket, path, host: 'cache' }
      : (() => {
          const url = new URL(path, endpoint.url);
          return { host: url.hostname, port: url.port, path: url.pathname };
        })();
  return new Promise((resolve, reject) => {
    const req = request(
      {
        ...target,
        method,
        headers: payload ? { 'content-type': 'application/json' } : {},
        ...(signal ? { signal } : {}),
      },
      (res) => {
        readText(res)
          .then((text) => {
            let parsed: unknown = text;
            try {
              parsed = text ? JSON.parse(text) : undefined;
            } catch {}
            resolve({ status: res.statusCode ?? 0, body: parsed as T });
          })
          .catch(reject);
      },
    );
    req.once('error', (error) =>
      reject(
        new CacheFailure(
          `the cache daemon at ${'socket' in endpoint ? endpoint.socket : endpoint.url} is not reachable: ${error.message}`,
          'is the cache sidecar running?',
        ),
      ),
    );
    req.end(payload);
  });
}

export async function acquireFromDaemon(
  endpoint: CacheEndpoint,
  input: { type: AssetType; name: string; job?: string; dest?: string; sha256?: string },
  signal?: AbortSignal,
): Promise<AcquireResult> {
  const { status, body } = await call<AcquireResult & { error?: string }>(
    endpoint,
    'POST',
    '/v1/assets/acquire',
    input,
    signal,
  );
  if (status === 200) return body;
  const message = body?.error ?? `the cache daemon answered ${status}`;
  if (status === 503) throw new CacheFailure(message.replace(/^cache failure: /, ''));
  throw new KubeqaError('KQ_ERR_CACHE', message);
}

export async function releaseJobLinks(endpoint: CacheEndpoint, job: string): Promise<void> {
  const { status, body } = await call<{ error?: string }>(
    endpoint,
    'DELETE',
    `/v1/jobs/${encodeURIComponent(job)}`,
  );
  if (status !== 204)
    throw new KubeqaError('KQ_ERR_CACHE', body?.error ?? `the cache daemon answered ${status}`);
}
