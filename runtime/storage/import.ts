// Importing an asset: a source URL (http://, https://, or s3://bucket/key on the configured S3
// endpoint) streamed into the store, the sha256 verified before anything becomes visible, progress
// reported as it goes. Transient failures (connection refused or reset, 5xx) retry the whole
// attempt with backoff; a 4xx answer or a checksum mismatch fails at once with the reason.
import { Readable } from 'node:stream';
import type { Compression } from '../../domain/assets/url-settings.js';
import { KubeqaError } from '../../domain/errors.js';
import type { Logger } from '../logger.js';
import { decompressor } from './decompress.js';
import { type RetryOptions, withRetry } from './retry.js';
import type { S3Store } from './s3-store.js';
import type { AssetStore } from './store.js';

export interface ImportProgress {
  bytes: number;
  /** Bytes expected, when the source said (Content-Length / object size) and nothing is decompressed. */
  total?: number;
  attempt: number;
}

export interface ImportRequest {
  source: string;
  /** Destination key in the store (`iso/foo.iso`; see assetKey()). */
  key: string;
  /** Hex sha256 the stored content must have. */
  sha256?: string;
  decompress?: Compression;
  /** Called at most every `progressIntervalMs` (default 1000) and once at the end. */
  onProgress?: (progress: ImportProgress) => void;
  progressIntervalMs?: number;
  /** For s3:// sources: a client of the S3 endpoint they live on (defaults to the store when it is S3). */
  s3?: S3Store;
  retry?: Partial<RetryOptions>;
  signal?: AbortSignal;
  log?: Logger;
}

export interface ImportResult {
  key: string;
  size: number;
  sha256: string;
  etag: string;
  attempts: number;
}

interface OpenedSource {
  body: Readable;
  size?: number;
}

async function openHttp(source: URL, signal?: AbortSignal): Promise<OpenedSource> {
  let response: Response;
  try {
    response = await fetch(source, { redirect: 'follow', ...(signal ? { signal } : {}) });
  } catch (error) {
    throw Object.assign(
      new Error(`cannot reach ${source.host}: ${(error as Error).cause ?? (error as Error).message}`),
      {
        cause: error,
        code: ((error as Error).cause as { code?: string } | undefined)?.code ?? 'ECONNREFUSED',
      },
    );
  }
  if (!response.ok || !response.body) {
    await response.body?.cancel().catch(() => undefined);
    throw Object.assign(
      new KubeqaError(
        'KQ_ERR_DOWNLOAD',
        `${redact(source)} answered ${response.status} ${response.statusText}`,
        response.status === 404 ? 'check the URL' : undefined,
      ),
      { status: response.status },
    );
  }
  const length = response.headers.get('content-length');
  const encoded = response.headers.get('content-encoding');
  return {
    body: Readable.fromWeb(response.body as import('node:stream/web').ReadableStream<Uint8Array>),
    ...(length && !encoded ? { size: Number(length) } : {}),
  };
}

async function openS3(source: URL, s3: S3Store | undefined): Promise<OpenedSource> {
  if (!s3) {
    throw new KubeqaError(
      'KQ_ERR_INVALID_SETTING',
      `${source.toString()} is on S3 but no S3 endpoint is configured`,
      'set KUBEQA_S3_ENDPOINT and its credentials, or import from an http(s):// URL',
    );
  }
  const bucket = source.hostname;
  const objectName = decodeURIComponent(source.pathname.replace(/^\//, ''));
  const facts = await s3.statExternal(bucket, objectName);
  if (!facts)
    throw new KubeqaError(
      'KQ_ERR_NOT_FOUND',
      `${source.toString()} does not exist`,
      'check the bucket and key',
    );
  return { body: await s3.openExternal(bucket, objectName), size: facts.size };
}

/** A URL without credentials or query, safe to show. */
export function redact(url: URL): string {
  return `${url.protocol}//${url.host}${url.pathname}`;
}

export async function importAsset(store: AssetStore, request: ImportRequest): Promise<ImportResult> {
  let source: URL;
  try {
    source = new URL(request.source);
  } catch {
    throw new KubeqaError(
      'KQ_ERR_INVALID_ARGUMENT',
      `'${request.source.slice(0, 200)}' is not a URL`,
      'use http(s)://… or s3://bucket/key',
    );
  }
  if (!['http:', 'https:', 's3:'].includes(source.protocol)) {
    throw new KubeqaError(
      'KQ_ERR_INVALID_ARGUMENT',
      `cannot import from '${source.protocol}' URLs`,
      'use http(s)://… or s3://bucket/key',
    );
  }
  const interval = request.progressIntervalMs ?? 1000;
  const s3 = request.s3 ?? (store.kind === 's3' ? (store as S3Store) : undefined);
  let attempts = 0;
  const result = await withRetry(
    async (attempt) => {
      attempts = attempt;
      const opened =
        source.protocol === 's3:' ? await openS3(source, s3) : await openHttp(source, request.signal);
      const total = request.decompress ? undefined : opened.size;
      let last = 0;
      let latest = 0;
      let trailing: NodeJS.Timeout | undefined;
      const report = () => {
        trailing = undefined;
        last = Date.now();
        request.onProgress?.({ bytes: latest, ...(total !== undefined ? { total } : {}), attempt });
      };
      const body = request.decompress ? opened.body.pipe(decompressor(request.decompress)) : opened.body;
      if (request.decompress) opened.body.once('error', (error) => body.destroy(error));
      try {
        const stored = await store.put(request.key, body, {
          ...(total !== undefined ? { size: total } : {}),
          ...(request.sha256 ? { expectedSha256: request.sha256 } : {}),
          onProgress: (bytes) => {
            latest = bytes;
            const wait = interval - (Date.now() - last);
            if (wait <= 0) report();
            // The last bytes before a pause are reported too, once the interval is over.
            else trailing ??= setTimeout(report, wait);
          },
        });
        clearTimeout(trailing);
        request.onProgress?.({ bytes: stored.size, total: stored.size, attempt });
        return stored;
      } finally {
        clearTimeout(trailing);
      }
    },
    {
      ...request.retry,
      ...(request.signal ? { signal: request.signal } : {}),
      onRetry: (error, attempt, delayMs) =>
        request.log?.warn(
          { source: redact(source), attempt, delayMs, err: String(error) },
          'import failed, retrying',
        ),
    },
  ).catch((error: unknown) => {
    if (error instanceof KubeqaError) throw error;
    throw new KubeqaError(
      'KQ_ERR_DOWNLOAD',
      `importing ${redact(source)} failed after ${attempts} attempt(s): ${(error as Error).message ?? String(error)}`,
      'check that the source is reachable, then retry the import',
      { cause: error },
    );
  });
  return { key: result.key, size: result.size, sha256: result.sha256, etag: result.etag, attempts };
}
