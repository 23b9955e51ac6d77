import { describe, expect, it } from 'vitest';
import { isKubeqaError } from '../../domain/errors.js';
import { planCancel, planObsolete, planRestart } from '../../operator/scheduler/actions.js';
import type { SchedulerJob } from '../../operator/scheduler/types.js';
import { edge, job, NOW } from './fixtures.js';

// install(1, passed) →chained middle(2, running) →chained 3 (scheduled) →chained 7 (scheduled);
// server(5, running) is the parallel parent of 2 and of 6 (running)
const cluster = (middle: Partial<SchedulerJob> = {}) => ({
  jobs: [
    job(1, { state: 'done', result: 'passed' }),
    job(2, { state: 'running', slotId: 'a', startedAt: NOW, ...middle }),
    job(3),
    job(5, { state: 'running', slotId: 'b', startedAt: NOW }),
    job(6, { state: 'running', slotId: 'c', startedAt: NOW }),
    job(7),
  ],
  edges: [
    edge(1, 2, 'chained'),
    edge(2, 3, 'chained'),
    edge(3, 7, 'chained'),
    edge(5, 2, 'parallel'),
    edge(5, 6, 'parallel'),
  ],
});

const results = (changes: ReadonlyArray<{ jobId: number; to: { state: string; result: string } }>) =>
  Object.fromEntries(changes.map((c) => [c.jobId, `${c.to.state}/${c.to.result}`]));

function codeOf(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (error) {
    return isKubeqaError(error) ? error.code : 'not a KubeqaError';
  }
  return undefined;
}

describe('restart', () => {
  it('of a running middle job clones its cluster and children, not its passed parent', () => {
    const plan = planRestart(cluster(), 2);
    expect(plan.cloneOf).toEqual([2, 3, 5, 6, 7]);
    expect(results(plan.changes)).toEqual({
      2: 'cancelled/user_restarted',
      3: 'cancelled/skipped',
      5: 'cancelled/parallel_restarted',
      6: 'cancelled/parallel_restarted',
      7: 'cancelled/skipped',
    });
    // the clone of 2 still starts after the original install; the rest are wired clone to clone
    expect(plan.edges).toEqual([
      { parent: { job: 1 }, child: { cloneOf: 2 }, kind: 'chained' },
      { parent: { cloneOf: 2 }, child: { cloneOf: 3 }, kind: 'chained' },
      { parent: { cloneOf: 3 }, child: { cloneOf: 7 }, kind: 'chained' },
      { parent: { cloneOf: 5 }, child: { cloneOf: 2 }, kind: 'parallel' },
      { parent: { cloneOf: 5 }, child: { cloneOf: 6 }, kind: 'parallel' },
    ]);
  });

  it('of a failed middle job leaves the finished jobs as they are', () => {
    const view = cluster({ state: 'done', result: 'failed' });
    view.jobs = view.jobs.map((j) =>
      j.id === 5 || j.id === 6 ? { ...j, state: 'cancelled', result: 'parallel_failed' } : j,
    );
    const plan = planRestart(view, 2);
    expect(plan.cloneOf).toEqual([2, 3, 5, 6, 7]);
    expect(results(plan.changes)).toEqual({ 3: 'cancelled/skipped', 7: 'cancelled/skipped' });
  });

  it('refuses a job still waiting and a job already restarted', () => {
    expect(codeOf(() => planRestart(cluster(), 3))).toBe('KQ_ERR_CONFLICT');
    expect(codeOf(() => planRestart(cluster({ state: 'done', result: 'failed', clonedAs: 40 }), 2))).toBe(
      'KQ_ERR_CONFLICT',
    );
    expect(codeOf(() => planRestart(cluster(), 404))).toBe('KQ_ERR_NOT_FOUND');
  });
});

describe('cancel', () => {
  it('cancels the job and stops its children and parallel cluster, never its chained parent', () => {
    const plan = planCancel(cluster(), 2);
    expect(results(plan.changes)).toEqual({
      2: 'cancelled/user_cancelled',
      3: 'cancelled/skipped',
      5: 'cancelled/parallel_failed',
      6: 'cancelled/parallel_failed',
      7: 'cancelled/skipped',
    });
    expect(plan.changes.find((c) => c.jobId === 5)!.reason).toBe('stopped: related job 2 was cancelled');
  });

  it('does nothing to a finished job', () => {
    expect(planCancel(cluster(), 1).changes).toEqual([]);
  });
});

describe('_OBSOLETE', () => {
  const product = (build: string, flavor = 'DVD') => ({
    distri: 'debian',
    version: '12',
    flavor,
    arch: 'x86_64',
    build,
  });
  const jobs = [
    job(1, { product: product('1') }),
    job(2, { product: product('1'), state: 'running', slotId: 'a' }),
    job(3, { product: product('1', 'netinst') }),
    job(4, { product: product('1'), important: true }),
    job(5, { product: product('1'), state: 'done', result: 'passed' }),
    job(6, { product: product('2') }),
    job(7, { product: product('1'), priority: 95 }),
  ];

  it('cancels pending jobs of the same distri/version/flavor/arch as obsoleted', () => {
    const plan = planObsolete({ jobs, edges: [edge(1, 8, 'chained')] }, product('3'));
    expect(results(plan.changes)).toEqual({
      1: 'cancelled/obsoleted',
      2: 'cancelled/obsoleted',
      6: 'cancelled/obsoleted',
      7: 'cancelled/obsoleted',
    });
    // scheduled jobs go first so no slot grabs them meanwhile
    expect(plan.changes.map((c) => c.jobId)).toEqual([1, 6, 7, 2]);
  });

  it('keeps to the same build with _ONLY_OBSOLETE_SAME_BUILD', () => {
    const plan = planObsolete({ jobs, edges: [] }, product('2'), { onlySameBuild: true });
    expect(results(plan.changes)).toEqual({ 6: 'cancelled/obsoleted' });
  });

  it('deprioritizes instead with _DEPRIORITIZEBUILD, cancelling past the limit', () => {
    const plan = planObsolete({ jobs, edges: [] }, product('3'), { deprioritize: true });
    expect(plan.priorities).toEqual([
      { jobId: 1, priority: 60 },
      { jobId: 6, priority: 60 },
      { jobId: 2, priority: 60 },
    ]);
    expect(results(plan.changes)).toEqual({ 7: 'cancelled/obsoleted' });
  });

  it('refuses a product without any key', () => {
    expect(codeOf(() => planObsolete({ jobs, edges: [] }, { build: '3' }))).toBe('KQ_ERR_INVALID_ARGUMENT');
  });
});
