// Job dependencies as openQA names them, and the graph checks on them. Pure.
//   chained           START_AFTER_TEST: the child starts after the parent finished ok
//   directly_chained  START_DIRECTLY_AFTER_TEST: the child runs right after, on the same worker
//   parallel          PARALLEL_WITH: the cluster starts together
export const DEPENDENCY_TYPES = ['chained', 'directly_chained', 'parallel'] as const;
export type DependencyType = (typeof DEPENDENCY_TYPES)[number];

/** The setting that declares each dependency type on the child. */
export const DEPENDENCY_SETTINGS: Record<DependencyType, string> = {
  chained: 'START_AFTER_TEST',
  directly_chained: 'START_DIRECTLY_AFTER_TEST',
  parallel: 'PARALLEL_WITH',
};

export interface Edge<K> {
  child: K;
  parent: K;
  type: DependencyType;
}

/**
 * Nodes that lie on a cycle of edges (every type counts: a parallel child waits for its parent
 * to be ready too, so a loop of any kind can never start). Tarjan's strongly connected components.
 */
export function nodesOnCycles<K>(nodes: readonly K[], edges: readonly Edge<K>[]): Set<K> {
  const out = new Map<K, K[]>();
  for (const n of nodes) out.set(n, []);
  for (const e of edges) out.get(e.parent)?.push(e.child);
  let counter = 0;
  const index = new Map<K, number>();
  const low = new Map<K, number>();
  const stack: K[] = [];
  const onStack = new Set<K>();
  const result = new Set<K>();
  const selfLoops = new Set(edges.filter((e) => e.child === e.parent).map((e) => e.child));
  const visit = (start: K) => {
    // iterative DFS to survive deep graphs
    const frames: { node: K; next: number }[] = [{ node: start, next: 0 }];
    index.set(start, counter);
    low.set(start, counter++);
    stack.push(start);
    onStack.add(start);
    while (frames.length > 0) {
      const frame = frames[frames.length - 1] as { node: K; next: number };
      const succ = out.get(frame.node) ?? [];
      if (frame.next < succ.length) {
        const w = succ[frame.next++] as K;
        if (!index.has(w)) {
          index.set(w, counter);
          low.set(w, counter++);
          stack.push(w);
          onStack.add(w);
          frames.push({ node: w, next: 0 });
        } else if (onStack.has(w)) {
          low.set(frame.node, Math.min(low.get(frame.node) as number, index.get(w) as number));
        }
        continue;
      }
      frames.pop();
      const parent = frames[frames.length - 1];
      if (parent)
        low.set(parent.node, Math.min(low.get(parent.node) as number, low.get(frame.node) as number));
      if (low.get(frame.node) === index.get(frame.node)) {
        const component: K[] = [];
        let w: K;
        do {
          w = stack.pop() as K;
          onStack.delete(w);
          component.push(w);
        } while (w !== frame.node);
        if (component.length > 1 || selfLoops.has(frame.node)) for (const c of component) result.add(c);
      }
    }
  };
  for (const n of nodes) if (!index.has(n)) visit(n);
  return result;
}
