// Which jobs a restart clones, and how the clones depend on each other — openQA's rules:
//  - parallel and directly-chained neighbours (both directions) are restarted together: they
//    only make sense in one run;
//  - chained children (START_AFTER) are restarted too (unless skipChildren; with
//    skipOkResultChildren only those that did not pass);
//  - chained parents are restarted only when they finished without passing (unless skipParents);
//    a parent that passed, or has not finished yet, is reused: the clone depends on the old parent.
// Pure.
import type { DependencyType, Edge } from './dependencies.js';
import { FINAL_STATES, type JobResult, type JobState, OK_RESULTS } from './states.js';

export interface RestartOptions {
  skipParents?: boolean;
  skipChildren?: boolean;
  skipOkResultChildren?: boolean;
}

export interface ClusterJob {
  id: number;
  state: string;
  result: string;
  cloneId: number | null;
}

/** The ids to clone when restarting `roots`, given the jobs and edges around them. */
export function restartSet(
  roots: readonly number[],
  jobs: ReadonlyMap<number, ClusterJob>,
  edges: readonly Edge<number>[],
  options: RestartOptions = {},
): Set<number> {
  const chosen = new Set<number>(roots);
  const finished = (id: number) => FINAL_STATES.includes((jobs.get(id)?.state ?? 'done') as JobState);
  const ok = (id: number) => OK_RESULTS.includes((jobs.get(id)?.result ?? 'none') as JobResult);
  let grew = true;
  while (grew) {
    grew = false;
    for (const e of edges) {
      const c = chosen.has(e.child);
      const p = chosen.has(e.parent);
      if (c === p) continue;
      let add: number | undefined;
      if (e.type === 'parallel' || e.type === 'directly_chained') add = c ? e.parent : e.child;
      else if (p && !options.skipChildren && !(options.skipOkResultChildren && ok(e.child))) add = e.child;
      else if (c && !options.skipParents && finished(e.parent) && !ok(e.parent)) add = e.parent;
      if (add !== undefined && jobs.has(add) && jobs.get(add)?.cloneId === null) {
        chosen.add(add);
        grew = true;
      }
    }
  }
  return chosen;
}

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
