// Which related jobs a cancellation, a failure or a restart reaches, with openQA's rules
// ("Handling of related jobs on failure / cancellation / restart" in its documentation):
//
// Stopping (a job failed or was cancelled): all its children of every kind, recursively; its
// parallel parents and through them their other children (unless the parent sets
// PARALLEL_CANCEL_WHOLE_CLUSTER=0 and still has other pending children); never its chained or
// directly chained parents.
//
// Restarting: all children of every kind, recursively (except children already cloned);
// parallel parents with their whole cluster; directly chained parents always (so the sequence
// can run again in one slot) but not their other children; chained parents only when they did
// finished without passing (a parent still pending or passed stays the clone's parent).
import type { DependencyGraph } from './dependency-graph.js';
import { isOkResult } from './state-machine.js';
import { FINAL_STATES, type JobResult, type JobState } from './states.js';

export interface ClusterJob {
  readonly id: number;
  readonly state: JobState;
  readonly result: JobResult;
  /** The clone that replaced this job, if it was restarted. */
  readonly clonedAs: number | null;
  /** PARALLEL_CANCEL_WHOLE_CLUSTER of this job as a parallel parent (default true). */
  readonly cancelWholeCluster: boolean;
}

export type JobLookup = (id: number) => ClusterJob | undefined;

function isPending(job: ClusterJob | undefined): boolean {
  return job !== undefined && !FINAL_STATES.includes(job.state);
}

/** Jobs to stop because `origin` failed or was cancelled (origin itself not included). */
export function stopSet(graph: DependencyGraph, lookup: JobLookup, origin: number): number[] {
  const visited = new Set<number>();
  const visit = (id: number) => {
    if (visited.has(id)) return;
    visited.add(id);
    parents: for (const parentId of graph.parentsOf(id, 'parallel')) {
      const parent = lookup(parentId);
      if (parent && !parent.cancelWholeCluster) {
        for (const sibling of graph.childrenOf(parentId, 'parallel')) {
          if (isPending(lookup(sibling)) && !visited.has(sibling)) continue parents;
        }
      }
      visit(parentId);
    }
    for (const kind of ['chained', 'directly_chained', 'parallel'] as const) {
      for (const childId of graph.childrenOf(id, kind)) {
        if (lookup(childId)?.clonedAs != null) continue;
        visit(childId);
      }
    }
  };
  visit(origin);
  visited.delete(origin);
  return [...visited].sort((a, b) => a - b);
}

export interface RestartSetOptions {
  /** Leave out parents of every kind (openQA's skip_parents). */
  readonly skipParents?: boolean;
  /** Leave out children of every kind (openQA's skip_children). */
  readonly skipChildren?: boolean;
}

/** Jobs to clone when `origin` is restarted (origin included), ascending ids. */
export function restartSet(
  graph: DependencyGraph,
  lookup: JobLookup,
  origin: number,
  options: RestartSetOptions = {},
): number[] {
  const visited = new Map<number, { childrenSkipped: boolean }>();
  const skipParents = options.skipParents ?? false;

  const visitChildren = (id: number) => {
    for (const kind of ['chained', 'directly_chained', 'parallel'] as const) {
      for (const childId of graph.childrenOf(id, kind)) {
        if (lookup(childId)?.clonedAs != null) continue;
        visit(childId, false);
      }
    }
  };

  const visit = (id: number, skipChildren: boolean) => {
    const seen = visited.get(id);
    if (seen) {
      if (!skipChildren && seen.childrenSkipped) {
        seen.childrenSkipped = false;
        visitChildren(id);
      }
      return;
    }
    const entry = { childrenSkipped: false };
    visited.set(id, entry);
    if (!skipParents) {
      for (const parentId of graph.parentsOf(id, 'chained')) {
        const parent = lookup(parentId);
        if (parent && FINAL_STATES.includes(parent.state) && !isOkResult(parent.result))
          visit(parentId, true);
      }
      for (const parentId of graph.parentsOf(id, 'directly_chained')) visit(parentId, true);
      for (const parentId of graph.parentsOf(id, 'parallel')) visit(parentId, false);
    }
    if (skipChildren) entry.childrenSkipped = true;
    else visitChildren(id);
  };

  visit(origin, options.skipChildren ?? false);
  return [...visited.keys()].sort((a, b) => a - b);
}
