import { describe, expect, it } from 'vitest';
import { WorkQueue } from '../../operator/controller/workqueue.js';
import { ManualClock } from './manual-clock.js';

describe('WorkQueue', () => {
  it('queues a key once however often it is added', async () => {
    const q = new WorkQueue(new ManualClock());
    q.add('a');
    q.add('b');
    q.add('a');
    expect(q.length).toBe(2);
    expect(await q.get()).toBe('a');
    expect(await q.get()).toBe('b');
  });

  it('never hands out a key being processed; an add meanwhile requeues it after done()', async () => {
    const q = new WorkQueue(new ManualClock());
    q.add('a');
    expect(await q.get()).toBe('a');
    q.add('a');
    expect(q.length).toBe(0);
    q.done('a');
    expect(q.length).toBe(1);
    expect(await q.get()).toBe('a');
    q.done('a');
    expect(q.length).toBe(0);
  });

  it('wakes a waiting worker on add', async () => {
    const q = new WorkQueue(new ManualClock());
    const next = q.get();
    q.add('x');
    expect(await next).toBe('x');
  });

  it('backs off a failing key exponentially and forgets on success', () => {
    const q = new WorkQueue(new ManualClock());
    expect([q.when('k'), q.when('k'), q.when('k'), q.when('k')]).toEqual([5, 10, 20, 40]);
    expect(q.numRequeues('k')).toBe(4);
    q.forget('k');
    expect(q.when('k')).toBe(5);
  });

  it('caps the per-key delay', () => {
    const q = new WorkQueue(new ManualClock(), { baseDelayMs: 5, maxDelayMs: 100, qps: 1e9, burst: 1e9 });
    const delays = Array.from({ length: 10 }, () => q.when('k'));
    expect(Math.max(...delays)).toBe(100);
  });

  it('limits overall retries with a token bucket after the burst', () => {
    const q = new WorkQueue(new ManualClock(), { baseDelayMs: 1, maxDelayMs: 1, qps: 10, burst: 3 });
    const delays = ['a', 'b', 'c', 'd', 'e'].map((k) => q.when(k));
    expect(delays.slice(0, 3)).toEqual([1, 1, 1]);
    expect(delays[3]).toBeCloseTo(100);
    expect(delays[4]).toBeCloseTo(200);
  });

  it('delays adds; the earliest pending delay of a key wins', () => {
    const clock = new ManualClock();
    const q = new WorkQueue(clock);
    q.addAfter('a', 1000);
    q.addAfter('a', 200);
    q.addAfter('a', 5000);
    clock.advance(199);
    expect(q.length).toBe(0);
    clock.advance(1);
    expect(q.length).toBe(1);
    clock.advance(10_000);
    expect(q.length).toBe(1);
  });

  it('releases waiting workers on shutdown and accepts nothing after', async () => {
    const q = new WorkQueue(new ManualClock());
    const waiting = q.get();
    q.shutDown();
    expect(await waiting).toBeUndefined();
    q.add('late');
    expect(q.length).toBe(0);
    expect(await q.get()).toBeUndefined();
  });
});
