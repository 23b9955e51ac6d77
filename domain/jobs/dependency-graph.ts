// Dependencies between jobs, with openQA's three kinds:
// - chained (START_AFTER_TEST): the child starts after the parent is done and passed/softfailed;
// - directly_chained (START_DIRECTLY_AFTER_TEST): the child runs right after the parent in the
//   same slot;
// - parallel (PARALLEL_WITH): parent and child run at the same time, all of a cluster or none.
// The graph is built once per scheduler pass from the edges and answers neighbour questions in
// O(degree).
import { KubeqaError } from '../errors.js';

export const DEPENDENCY_KINDS = ['chained', 'directly_chained', 'parallel'] as const;
export type DependencyKind = (typeof DEPENDENCY_KINDS)[number];

export interface DependencyEdge {
  readonly parent: number;
  readonly child: number;
  readonly kind: DependencyKind;
}

const EMPTY: readonly number[] = [];

export class DependencyGraph {
  private readonly parents = new Map<string, number[]>();
  private readonly children = new Map<string, number[]>();

  constructor(readonly edges: readonly DependencyEdge[]) {
    for (const edge of edges) {
      if (!(DEPENDENCY_KINDS as readonly string[]).includes(edge.kind))
        throw new KubeqaError(
          'KQ_ERR_INVALID_ARGUMENT',
          `dependency ${edge.parent} → ${edge.child} has the unknown kind ${JSON.stringify(edge.kind)}`,
          `use one of ${DEPENDENCY_KINDS.join(', ')}`,
        );
      if (edge.parent === edge.child)
        throw new KubeqaError(
          'KQ_ERR_INVALID_ARGUMENT',
          `job ${edge.parent} cannot depend on itself`,
          'remove the self-reference from START_AFTER_TEST, START_DIRECTLY_AFTER_TEST or PARALLEL_WITH',
        );
      push(this.parents, key(edge.child, edge.kind), edge.parent);
      push(this.children, key(edge.parent, edge.kind), edge.child);
    }
  }

  parentsOf(job: number, kind: DependencyKind): readonly number[] {
    return this.parents.get(key(job, kind)) ?? EMPTY;
  }

  childrenOf(job: number, kind: DependencyKind): readonly number[] {
    return this.children.get(key(job, kind)) ?? EMPTY;
  }

  hasAny(job: number): boolean {
    return DEPENDENCY_KINDS.some(
      (kind) => this.parentsOf(job, kind).length > 0 || this.childrenOf(job, kind).length > 0,
    );
  }

  /** The parallel cluster of a job: everything reachable over parallel edges, either direction. */
  parallelCluster(job: number): number[] {
    if (this.parentsOf(job, 'parallel').length === 0 && this.childrenOf(job, 'parallel').length === 0)
      return [job];
    const seen = new Set<number>([job]);
    const todo = [job];
    while (todo.length > 0) {
      const current = todo.pop()!;
      for (const next of [...this.parentsOf(current, 'parallel'), ...this.childrenOf(current, 'parallel')]) {
        if (!seen.has(next)) {
          seen.add(next);
          todo.push(next);
        }
      }
    }
    return [...seen].sort((a, b) => a - b);
  }

  /**
   * The order in which a directly chained tree runs in one slot, starting at `root`: depth first,
   * sibling sub-trees ordered by test name (then id), so A → {B → C, D → E} runs A, B, C, D, E.
   * `include` decides which children take part (e.g. only those still scheduled); a child left out
   * leaves out its sub-tree. Throws on a cycle.
   */
  directlyChainedSequence(
    root: number,
    testOf: (job: number) => string,
    include: (job: number) => boolean = () => true,
  ): number[] {
    const childrenOf = (job: number) =>
      this.childrenOf(job, 'directly_chained')
        .filter(include)
        .sort((a, b) => compareText(testOf(a), testOf(b)) || a - b);
    // Which jobs take part (and no cycle among them).
    const members = new Set<number>();
    const onPath = new Set<number>();
    const collect = (job: number) => {
      if (onPath.has(job))
        throw new KubeqaError(
          'KQ_ERR_INVALID_ARGUMENT',
          `directly chained dependencies of job ${root} form a cycle at job ${job}`,
          'remove the cycle from START_DIRECTLY_AFTER_TEST',
        );
      if (members.has(job)) return;
      onPath.add(job);
      members.add(job);
      for (const child of childrenOf(job)) collect(child);
      onPath.delete(job);
    };
    collect(root);
    // Depth first, each job once, and only after all of its directly chained parents that take
    // part (a job with two such parents runs after the later one).
    const order: number[] = [];
    const emitted = new Set<number>();
    const visit = (job: number) => {
      if (emitted.has(job)) return;
      if (
        job !== root &&
        this.parentsOf(job, 'directly_chained').some((p) => members.has(p) && !emitted.has(p))
      )
        return;
      emitted.add(job);
      order.push(job);
      for (const child of childrenOf(job)) visit(child);
    };
    visit(root);
    return order;
  }
}

function key(job: number, kind: DependencyKind): string {
  return `${kind}:${job}`;
}

function push(map: Map<string, number[]>, k: string, value: number): void {
  const list = map.get(k);
  if (list) list.push(value);
  else map.set(k, [value]);
}

function compareText(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
