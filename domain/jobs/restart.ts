// How the clones of a restart depend on each other and on the jobs that were not restarted
// (which jobs are restarted is domain/jobs/clusters.ts's restartSet, shared with the scheduler).
// Pure.
import type { DependencyType, Edge } from './dependencies.js';

/** Edges of the clones: both ends restarted → between clones; only the child → to the old parent. */
export function cloneEdges(
  chosen: ReadonlySet<number>,
  edges: readonly Edge<number>[],
): { child: number; parent: number; parentIsOld: boolean; type: DependencyType }[] {
  const out: { child: number; parent: number; parentIsOld: boolean; type: DependencyType }[] = [];
  for (const e of edges) {
    if (!chosen.has(e.child)) continue;
    out.push({ child: e.child, parent: e.parent, parentIsOld: !chosen.has(e.parent), type: e.type });
  }
  return out;
}
