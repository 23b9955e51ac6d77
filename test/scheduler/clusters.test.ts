import { describe, expect, it } from 'vitest';
import { type ClusterJob, restartSet, stopSet } from '../../domain/jobs/clusters.js';
import { DependencyGraph, type DependencyKind } from '../../domain/jobs/dependency-graph.js';
import type { JobResult, JobState } from '../../domain/jobs/states.js';
import { edge } from './fixtures.js';

function lookupOf(jobs: Record<number, Partial<ClusterJob>>) {
  return (id: number): ClusterJob | undefined =>
    jobs[id]
      ? {
          id,
          state: 'scheduled' as JobState,
          result: 'none' as JobResult,
          clonedAs: null,
          cancelWholeCluster: true,
          ...jobs[id],
        }
      : undefined;
}

describe('dependency graph', () => {
  it('rejects unknown kinds and self-dependencies with a clear error', () => {
    expect(() => new DependencyGraph([{ parent: 1, child: 2, kind: 'after' as DependencyKind }])).toThrow(
      /unknown kind "after"/,
    );
    expect(() => new DependencyGraph([edge(3, 3, 'chained')])).toThrow(/job 3 cannot depend on itself/);
  });

  it('finds a parallel cluster over parents and children', () => {
    const graph = new DependencyGraph([
      edge(1, 2, 'parallel'),
      edge(1, 3, 'parallel'),
      edge(4, 3, 'parallel'),
      edge(3, 5, 'chained'),
    ]);
    expect(graph.parallelCluster(2)).toEqual([1, 2, 3, 4]);
    expect(graph.parallelCluster(5)).toEqual([5]);
  });

  it('orders directly chained sub-trees by test name, depth first', () => {
    // A → {D → E, B → C}: B sorts before D, so A, B, C, D, E (openQA's documented example)
    const graph = new DependencyGraph([
      edge(1, 4, 'directly_chained'),
      edge(4, 5, 'directly_chained'),
      edge(1, 2, 'directly_chained'),
      edge(2, 3, 'directly_chained'),
    ]);
    const test = (id: number) => ({ 1: 'A', 2: 'B', 3: 'C', 4: 'D', 5: 'E' })[id] ?? '';
    expect(graph.directlyChainedSequence(1, test)).toEqual([1, 2, 3, 4, 5]);
    // leaving out B leaves out its sub-tree
    expect(graph.directlyChainedSequence(1, test, (id) => id !== 2)).toEqual([1, 4, 5]);
  });

  it('refuses a directly chained cycle', () => {
    const graph = new DependencyGraph([edge(1, 2, 'directly_chained'), edge(2, 1, 'directly_chained')]);
    expect(() => graph.directlyChainedSequence(1, String)).toThrow(/form a cycle at job 1/);
  });
});

describe('stop set (failure or cancel)', () => {
  it('reaches every kind of child, parallel parents and siblings, never chained parents', () => {
    // 1 →chained 2 ⇉parallel {3 (parent of 2), 4 (sibling)}; 2 →chained 5 →direct 6
    const graph = new DependencyGraph([
      edge(1, 2, 'chained'),
      edge(3, 2, 'parallel'),
      edge(3, 4, 'parallel'),
      edge(2, 5, 'chained'),
      edge(5, 6, 'directly_chained'),
    ]);
    const lookup = lookupOf({ 1: { state: 'done', result: 'passed' }, 2: {}, 3: {}, 4: {}, 5: {}, 6: {} });
    expect(stopSet(graph, lookup, 2)).toEqual([3, 4, 5, 6]);
    // a directly chained sub-tree: stopping 5 reaches 6 but not 5's parents
    expect(stopSet(graph, lookup, 5)).toEqual([6]);
  });

  it('spares a parallel parent with PARALLEL_CANCEL_WHOLE_CLUSTER=0 that has other pending children', () => {
    const graph = new DependencyGraph([edge(1, 2, 'parallel'), edge(1, 3, 'parallel')]);
    const lookup = lookupOf({
      1: { cancelWholeCluster: false, state: 'running' },
      2: {},
      3: { state: 'running' },
    });
    expect(stopSet(graph, lookup, 2)).toEqual([]);
    // once the other child is done, the parent goes too
    const lookupDone = lookupOf({
      1: { cancelWholeCluster: false },
      2: {},
      3: { state: 'done', result: 'passed' },
    });
    expect(stopSet(graph, lookupDone, 2)).toEqual([1, 3]);
  });

  it('leaves out children that were already restarted', () => {
    const graph = new DependencyGraph([edge(1, 2, 'chained'), edge(1, 3, 'chained')]);
    expect(stopSet(graph, lookupOf({ 1: {}, 2: { clonedAs: 9 }, 3: {} }), 1)).toEqual([3]);
  });
});

describe('restart set', () => {
  // 1 (passed) →chained 2 (the middle job) →chained 3; 2 →direct 4; 5 parallel parent of 2 and 6
  const edges = [
    edge(1, 2, 'chained'),
    edge(2, 3, 'chained'),
    edge(2, 4, 'directly_chained'),
    edge(5, 2, 'parallel'),
    edge(5, 6, 'parallel'),
  ];
  const graph = new DependencyGraph(edges);

  it('restarting a middle job takes its children and parallel cluster, not a passed chained parent', () => {
    const lookup = lookupOf({
      1: { state: 'done', result: 'passed' },
      2: { state: 'done', result: 'failed' },
      3: { state: 'cancelled', result: 'skipped' },
      4: { state: 'cancelled', result: 'skipped' },
      5: { state: 'done', result: 'parallel_failed' },
      6: { state: 'done', result: 'parallel_failed' },
    });
    expect(restartSet(graph, lookup, 2)).toEqual([2, 3, 4, 5, 6]);
  });

  it('takes a chained parent that failed, but not that parent’s other children', () => {
    const g = new DependencyGraph([edge(1, 2, 'chained'), edge(1, 3, 'chained')]);
    const lookup = lookupOf({
      1: { state: 'done', result: 'failed' },
      2: { state: 'cancelled', result: 'skipped' },
      3: { state: 'cancelled', result: 'skipped' },
    });
    expect(restartSet(g, lookup, 2)).toEqual([1, 2]);
    // a running chained parent stays the parent of the clone
    expect(
      restartSet(g, lookupOf({ 1: { state: 'running' }, 2: { state: 'done', result: 'failed' } }), 2),
    ).toEqual([2]);
  });

  it('always takes directly chained parents (not their other children)', () => {
    const g = new DependencyGraph([edge(1, 2, 'directly_chained'), edge(1, 3, 'directly_chained')]);
    const lookup = lookupOf({
      1: { state: 'done', result: 'passed' },
      2: { state: 'done', result: 'failed' },
      3: { state: 'done', result: 'passed' },
    });
    expect(restartSet(g, lookup, 2)).toEqual([1, 2]);
    expect(restartSet(g, lookup, 1)).toEqual([1, 2, 3]);
  });

  it('honours skipParents and skipChildren', () => {
    const lookup = lookupOf({
      1: { state: 'done', result: 'failed' },
      2: { state: 'done', result: 'failed' },
    });
    expect(restartSet(graph, lookup, 2, { skipParents: true })).toEqual([2, 3, 4]);
    const chain = new DependencyGraph([edge(1, 2, 'chained'), edge(2, 3, 'chained')]);
    expect(restartSet(chain, lookup, 2, { skipChildren: true })).toEqual([1, 2]);
    // the parallel parent still brings its whole cluster, but not the restarted job's children
    expect(restartSet(graph, lookup, 2, { skipChildren: true })).toEqual([1, 2, 5, 6]);
  });
});

describe('directly chained sequences with a job of two parents', () => {
  it('runs the job once, after both parents (found by the property test, seed -1712167232)', () => {
    const graph = new DependencyGraph([
      { parent: 1, child: 2, kind: 'directly_chained' },
      { parent: 2, child: 3, kind: 'directly_chained' },
      { parent: 1, child: 3, kind: 'directly_chained' },
    ]);
    expect(graph.directlyChainedSequence(1, (id) => `test-${id}`)).toEqual([1, 2, 3]);
    // Even when the name order would put the shared child first.
    expect(graph.directlyChainedSequence(1, (id) => (id === 3 ? 'a' : `z-${id}`))).toEqual([1, 2, 3]);
  });
});
