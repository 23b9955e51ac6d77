// A controller: a work queue of object keys and N workers calling one reconciler.
// The same key is never reconciled by two workers at once. A reconcile that throws is retried
// with the queue's backoff; one that asks for requeueAfterMs comes back then; success forgets
// the key's backoff. Metrics as controller-runtime's.
import type { Logger } from '../../runtime/logger.js';
import type { OperatorMetrics } from '../metrics.js';
import { type Clock, realClock, WorkQueue } from './workqueue.js';

export interface ReconcileResult {
  /** Reconcile this key again after this long even if nothing changes. */
  requeueAfterMs?: number;
}

export interface Reconciler {
  /** Controller name, used in metrics and logs (e.g. "job", "worker", "asset"). */
  readonly name: string;
  reconcile(key: string): Promise<ReconcileResult | undefined>;
}

export interface ControllerOptions {
  workers?: number;
  metrics?: OperatorMetrics;
  log?: Logger;
  clock?: Clock;
}

export class Controller {
  readonly queue: WorkQueue<string>;
  private running: Promise<void>[] = [];
  private readonly workers: number;

  constructor(
    private readonly reconciler: Reconciler,
    private readonly options: ControllerOptions = {},
  ) {
    this.workers = options.workers ?? 2;
    this.queue = new WorkQueue<string>(
      options.clock ?? realClock,
      undefined,
      options.metrics?.queue(reconciler.name),
    );
  }

  enqueue(key: string): void {
    this.queue.add(key);
  }

  start(): void {
    if (this.running.length > 0) return;
    this.options.metrics?.maxConcurrentReconciles.set({ controller: this.reconciler.name }, this.workers);
    for (let i = 0; i < this.workers; i++) this.running.push(this.work());
  }

  async stop(): Promise<void> {
    this.queue.shutDown();
    await Promise.all(this.running);
    this.running = [];
  }

  private async work(): Promise<void> {
    const controller = this.reconciler.name;
    const metrics = this.options.metrics;
    for (;;) {
      const key = await this.queue.get();
      if (key === undefined) return;
      metrics?.activeWorkers.inc({ controller });
      const stopTimer = metrics?.reconcileTime.startTimer({ controller });
      try {
        const result = await this.reconciler.reconcile(key);
        this.queue.forget(key);
        if (result?.requeueAfterMs !== undefined) {
          this.queue.addAfter(key, result.requeueAfterMs);
          metrics?.reconcileTotal.inc({ controller, result: 'requeue_after' });
        } else {
          metrics?.reconcileTotal.inc({ controller, result: 'success' });
        }
      } catch (error) {
        metrics?.reconcileTotal.inc({ controller, result: 'error' });
        metrics?.reconcileErrors.inc({ controller });
        this.options.log?.warn(
          { controller, key, err: (error as Error).message },
          'reconcile failed; will retry',
        );
        this.queue.addRateLimited(key);
      } finally {
        stopTimer?.();
        metrics?.activeWorkers.dec({ controller });
        this.queue.done(key);
      }
    }
  }
}
