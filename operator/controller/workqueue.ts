// A rate-limited work queue with controller-runtime's semantics:
// - a key is queued at most once (adds while queued are merged);
// - a key being processed is never handed to a second worker; an add during processing marks it
//   dirty and it is queued again when done();
// - addRateLimited() backs off per key exponentially (5 ms doubling to 1000 s) and overall with a
//   token bucket (10 per second, burst 100), whichever is later; forget() resets the key's backoff;
// - addAfter() delays an add (requeueAfter).
// Time and timers are injected so tests run on a fake clock.

export interface Clock {
  now(): number;
  setTimeout(fn: () => void, ms: number): { cancel(): void };
}

export const realClock: Clock = {
  now: () => Date.now(),
  setTimeout(fn, ms) {
    const timer = setTimeout(fn, ms);
    timer.unref?.();
    return { cancel: () => clearTimeout(timer) };
  },
};

export interface RateLimiterOptions {
  baseDelayMs: number;
  maxDelayMs: number;
  qps: number;
  burst: number;
}

export const DEFAULT_RATE_LIMITS: RateLimiterOptions = {
  baseDelayMs: 5,
  maxDelayMs: 1000_000,
  qps: 10,
  burst: 100,
};

export interface QueueMetrics {
  depth(n: number): void;
  added(): void;
  retried(): void;
  /** How long an item waited in the queue, and how long its processing took (seconds). */
  queued(seconds: number): void;
  worked(seconds: number): void;
}

const noMetrics: QueueMetrics = { depth() {}, added() {}, retried() {}, queued() {}, worked() {} };

export class WorkQueue<K = string> {
  private readonly queue: K[] = [];
  private readonly queued = new Set<K>();
  private readonly processing = new Set<K>();
  private readonly dirty = new Set<K>();
  private readonly addedAt = new Map<K, number>();
  private readonly startedAt = new Map<K, number>();
  private readonly failures = new Map<K, number>();
  private readonly waiting = new Map<K, { at: number; timer: { cancel(): void } }>();
  private readonly getters: Array<(key: K | undefined) => void> = [];
  private tokens: number;
  private tokensAt: number;
  private shuttingDown = false;

  constructor(
    private readonly clock: Clock = realClock,
    private readonly limits: RateLimiterOptions = DEFAULT_RATE_LIMITS,
    private readonly metrics: QueueMetrics = noMetrics,
  ) {
    this.tokens = limits.burst;
    this.tokensAt = clock.now();
  }

  get length(): number {
    return this.queue.length;
  }

  add(key: K): void {
    if (this.shuttingDown) return;
    this.metrics.added();
    if (this.processing.has(key)) {
      this.dirty.add(key);
      return;
    }
    if (this.queued.has(key)) return;
    this.queued.add(key);
    this.addedAt.set(key, this.clock.now());
    const getter = this.getters.shift();
    if (getter) {
      this.take(key);
      getter(key);
    } else {
      this.queue.push(key);
      this.metrics.depth(this.queue.length);
    }
  }

  /** Add after `ms`; an earlier pending delayed add of the same key wins. */
  addAfter(key: K, ms: number): void {
    if (this.shuttingDown) return;
    if (ms <= 0) {
      this.add(key);
      return;
    }
    const at = this.clock.now() + ms;
    const existing = this.waiting.get(key);
    if (existing && existing.at <= at) return;
    existing?.timer.cancel();
    const timer = this.clock.setTimeout(() => {
      this.waiting.delete(key);
      this.add(key);
    }, ms);
    this.waiting.set(key, { at, timer });
  }

  /** Add after the key's backoff (exponential per key, token bucket overall). */
  addRateLimited(key: K): void {
    this.metrics.retried();
    this.addAfter(key, this.when(key));
  }

  /** The delay the rate limiter gives the key now (and counts the failure). */
  when(key: K): number {
    const failures = this.failures.get(key) ?? 0;
    this.failures.set(key, failures + 1);
    const perItem = Math.min(this.limits.baseDelayMs * 2 ** failures, this.limits.maxDelayMs);
    // Token bucket: refill, then take one token; a negative balance means waiting.
    const now = this.clock.now();
    this.tokens = Math.min(this.limits.burst, this.tokens + ((now - this.tokensAt) / 1000) * this.limits.qps);
    this.tokensAt = now;
    this.tokens -= 1;
    const bucket = this.tokens >= 0 ? 0 : (-this.tokens / this.limits.qps) * 1000;
    return Math.max(perItem, bucket);
  }

  numRequeues(key: K): number {
    return this.failures.get(key) ?? 0;
  }

  forget(key: K): void {
    this.failures.delete(key);
  }

  /** The next key to process; waits while the queue is empty; undefined once shut down. */
  get(): Promise<K | undefined> {
    const key = this.queue.shift();
    if (key !== undefined) {
      this.metrics.depth(this.queue.length);
      this.take(key);
      return Promise.resolve(key);
    }
    if (this.shuttingDown) return Promise.resolve(undefined);
    return new Promise((resolve) => this.getters.push(resolve));
  }

  /** Processing of the key has finished; if it was added meanwhile, queue it again. */
  done(key: K): void {
    this.processing.delete(key);
    const started = this.startedAt.get(key);
    if (started !== undefined) this.metrics.worked((this.clock.now() - started) / 1000);
    this.startedAt.delete(key);
    if (this.dirty.delete(key)) this.add(key);
  }

  shutDown(): void {
    this.shuttingDown = true;
    for (const { timer } of this.waiting.values()) timer.cancel();
    this.waiting.clear();
    for (const getter of this.getters.splice(0)) getter(undefined);
  }

  private take(key: K): void {
    this.queued.delete(key);
    this.processing.add(key);
    const added = this.addedAt.get(key);
    this.addedAt.delete(key);
    const now = this.clock.now();
    if (added !== undefined) this.metrics.queued((now - added) / 1000);
    this.startedAt.set(key, now);
  }
}
