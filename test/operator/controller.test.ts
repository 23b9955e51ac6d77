import { describe, expect, it } from 'vitest';
import { Controller, type Reconciler } from '../../operator/controller/controller.js';
import { OperatorMetrics } from '../../operator/metrics.js';

async function metricValue(
  metrics: OperatorMetrics,
  name: string,
  labels: Record<string, string>,
): Promise<number> {
  const metric = (await metrics.registry.getMetricsAsJSON()).find((m) => m.name === name);
  const value = metric?.values.find((v) => Object.entries(labels).every(([k, l]) => v.labels[k] === l));
  return value?.value ?? 0;
}

describe('Controller', () => {
  it('retries a failing reconcile with backoff until it succeeds, and counts it', async () => {
    const metrics = new OperatorMetrics();
    let calls = 0;
    let succeeded!: () => void;
    const done = new Promise<void>((resolve) => {
      succeeded = resolve;
    });
    const reconciler: Reconciler = {
      name: 'flaky',
      async reconcile() {
        calls++;
        if (calls < 3) throw new Error(`attempt ${calls} failed`);
        succeeded();
        return undefined;
      },
    };
    const controller = new Controller(reconciler, { metrics, workers: 2 });
    controller.start();
    controller.enqueue('ns/a');
    await done;
    await controller.stop();
    expect(calls).toBe(3);
    expect(
      await metricValue(metrics, 'controller_runtime_reconcile_total', {
        controller: 'flaky',
        result: 'error',
      }),
    ).toBe(2);
    expect(
      await metricValue(metrics, 'controller_runtime_reconcile_total', {
        controller: 'flaky',
        result: 'success',
      }),
    ).toBe(1);
    expect(await metricValue(metrics, 'workqueue_retries_total', { name: 'flaky' })).toBe(2);
    expect(controller.queue.numRequeues('ns/a')).toBe(0);
  });

  it('never reconciles one key in two workers at once, but does reconcile again after a change', async () => {
    let active = 0;
    let maxActive = 0;
    let calls = 0;
    let release!: () => void;
    const gate = new Promise<void>((resolve) => {
      release = resolve;
    });
    let secondDone!: () => void;
    const second = new Promise<void>((resolve) => {
      secondDone = resolve;
    });
    let firstStarted!: () => void;
    const started = new Promise<void>((resolve) => {
      firstStarted = resolve;
    });
    const controller = new Controller(
      {
        name: 'serial',
        async reconcile() {
          calls++;
          active++;
          maxActive = Math.max(maxActive, active);
          if (calls === 1) {
            firstStarted();
            await gate;
          }
          active--;
          if (calls === 2) secondDone();
          return undefined;
        },
      },
      { workers: 4 },
    );
    controller.start();
    controller.enqueue('k');
    await started;
    controller.enqueue('k');
    controller.enqueue('k');
    release();
    await second;
    await controller.stop();
    expect(maxActive).toBe(1);
    expect(calls).toBe(2);
  });

  it('requeues after the requested delay', async () => {
    let calls = 0;
    let twice!: () => void;
    const done = new Promise<void>((resolve) => {
      twice = resolve;
    });
    const controller = new Controller({
      name: 'periodic',
      async reconcile() {
        calls++;
        if (calls === 2) twice();
        return calls === 1 ? { requeueAfterMs: 20 } : undefined;
      },
    });
    controller.start();
    controller.enqueue('k');
    await done;
    await controller.stop();
    expect(calls).toBe(2);
  });
});
