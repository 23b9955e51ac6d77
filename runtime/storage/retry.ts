// Retries with exponential backoff and jitter for transient storage and network failures: the
// one retry loop of kubeqa (S3 store, asset import, the runner's API reports).

export interface RetryOptions {
  /** Attempts in total (1 = no retry; Infinity: only budgetMs ends the retries). */
  attempts: number;
  /** Delay before the first retry, ms. */
  baseDelayMs: number;
  /** Upper bound of one delay, ms. */
  maxDelayMs: number;
  /** Give up when the next attempt would start later than this after the first one, ms. */
  budgetMs?: number;
  /** Whether this error is worth another attempt. */
  retryable?: (error: unknown) => boolean;
  /** Told about each failure that will be retried. */
  onRetry?: (error: unknown, attempt: number, delayMs: number) => void;
  signal?: AbortSignal;
}

export const DEFAULT_RETRY: RetryOptions = { attempts: 5, baseDelayMs: 200, maxDelayMs: 5000 };

/** The delay before retry number `retry` (1-based): base·2^(retry-1), at most max, with ±25 % jitter. */
export function backoffDelay(retry: number, baseDelayMs: number, maxDelayMs: number, random = Math.random()) {
  const plain = Math.min(maxDelayMs, baseDelayMs * 2 ** (retry - 1));
  return Math.round(plain * (0.75 + 0.5 * random));
}

const TRANSIENT_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ETIMEDOUT',
  'EPIPE',
  'EAI_AGAIN',
  'ENOTFOUND',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'UND_ERR_SOCKET',
  'UND_ERR_CONNECT_TIMEOUT',
  'ERR_STREAM_PREMATURE_CLOSE',
  'SlowDown',
  'InternalError',
  'ServiceUnavailable',
  'RequestTimeout',
  'XMinioServerNotInitialized',
]);

/** Whether an HTTP status is worth another attempt (server-side trouble, not the request). */
export function isTransientStatus(status: number): boolean {
  return status >= 500 || status === 408 || status === 429;
}

/** Network errors, 5xx answers and S3's "slow down"; not 4xx answers or checksum mismatches. */
export function isTransient(error: unknown): boolean {
  let current: unknown = error;
  for (let depth = 0; depth < 5 && current && typeof current === 'object'; depth++) {
    const e = current as {
      code?: unknown;
      status?: unknown;
      statusCode?: unknown;
      message?: unknown;
      cause?: unknown;
    };
    if (typeof e.code === 'string' && TRANSIENT_CODES.has(e.code)) return true;
    const status =
      typeof e.status === 'number' ? e.status : typeof e.statusCode === 'number' ? e.statusCode : 0;
    if (isTransientStatus(status)) return true;
    if (
      typeof e.message === 'string' &&
      /socket hang up|aborted|premature close|other side closed|fetch failed|terminated/i.test(e.message)
    )
      return true;
    current = e.cause;
  }
  return false;
}

export async function withRetry<T>(
  what: (attempt: number) => Promise<T>,
  options: Partial<RetryOptions> = {},
): Promise<T> {
  const o = { ...DEFAULT_RETRY, ...options };
  const retryable = o.retryable ?? isTransient;
  const first = Date.now();
  for (let attempt = 1; ; attempt++) {
    try {
      return await what(attempt);
    } catch (error) {
      if (attempt >= o.attempts || !retryable(error) || o.signal?.aborted) throw error;
      const delay = backoffDelay(attempt, o.baseDelayMs, o.maxDelayMs);
      if (o.budgetMs !== undefined && Date.now() + delay - first > o.budgetMs) throw error;
      o.onRetry?.(error, attempt, delay);
      await new Promise<void>((resolve) => setTimeout(resolve, delay));
    }
  }
}
