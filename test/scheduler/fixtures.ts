// Builders for the scheduler's pure inputs: a job with defaults, a slot, a decision input.
import type { DependencyEdge, DependencyKind } from '../../domain/jobs/dependency-graph.js';
import { decide } from '../../operator/scheduler/decide.js';
import {
  DEFAULT_SCHEDULER_CONFIG,
  type Decision,
  type DecisionInput,
  NEVER_RUN,
  type SchedulerConfig,
  type SchedulerJob,
  type Slot,
} from '../../operator/scheduler/types.js';

export const NOW = 1_700_000_000_000;

export function job(id: number, overrides: Partial<SchedulerJob> = {}): SchedulerJob {
  return {
    id,
    state: 'scheduled',
    result: 'none',
    clonedAs: null,
    cancelWholeCluster: true,
    priority: 50,
    createdAt: NOW - 1_000_000 + id,
    test: `test-${id}`,
    workerClasses: [],
    maxSetupSeconds: 3600,
    maxJobSeconds: 7200,
    timeoutScale: 1,
    retry: 0,
    ...NEVER_RUN,
    ...overrides,
  };
}

export function slot(id: string, classes: string[] = [], overrides: Partial<Slot> = {}): Slot {
  return { id, pool: 'default', classes, lastSeen: NOW, ...overrides };
}

export function edge(parent: number, child: number, kind: DependencyKind): DependencyEdge {
  return { parent, child, kind };
}

export interface Scenario {
  jobs: SchedulerJob[];
  edges?: DependencyEdge[];
  slots?: Slot[];
  finished?: number[];
  offsets?: ReadonlyMap<number, number>;
  now?: number;
  config?: Partial<SchedulerConfig>;
}

export function input(s: Scenario): DecisionInput {
  return {
    now: s.now ?? NOW,
    jobs: s.jobs,
    edges: s.edges ?? [],
    slots: s.slots ?? [],
    finished: s.finished ?? [],
    priorityOffsets: s.offsets ?? new Map(),
    config: { ...DEFAULT_SCHEDULER_CONFIG, ...s.config },
  };
}

export function run(s: Scenario): Decision {
  return decide(input(s));
}

/** slot id → job ids assigned to it. */
export function assigned(decision: Decision): Record<string, number[]> {
  return Object.fromEntries(decision.assignments.map((a) => [a.slotId, [...a.jobIds]]));
}

/** All assigned job ids, sorted. */
export function assignedIds(decision: Decision): number[] {
  return decision.assignments.flatMap((a) => a.jobIds).sort((a, b) => a - b);
}

/** job id → "state/result" of every change. */
export function changed(decision: Decision): Record<number, string> {
  return Object.fromEntries(decision.changes.map((c) => [c.jobId, `${c.to.state}/${c.to.result}`]));
}
