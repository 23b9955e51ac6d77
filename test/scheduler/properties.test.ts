// Invariants of the decision and of the loop over random scenarios (fast-check).
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { DependencyGraph, type DependencyKind } from '../../domain/jobs/dependency-graph.js';
import {
  auditTransitions,
  checkTransition,
  isExecutionState,
  isOkResult,
} from '../../domain/jobs/state-machine.js';
import type { JobResult, JobState } from '../../domain/jobs/states.js';
import { ManualClock } from '../../operator/scheduler/clock.js';
import { decide } from '../../operator/scheduler/decide.js';
import { SchedulerLoop } from '../../operator/scheduler/loop.js';
import { MemoryStore } from '../../operator/scheduler/memory-store.js';
import type { SchedulerJob } from '../../operator/scheduler/types.js';
import { edge, input, job, NOW, slot } from './fixtures.js';

const CLASSES = ['a', 'b', 'c'];
const classSet = fc.subarray(CLASSES, { minLength: 0, maxLength: 2 });

const jobStatus = fc.constantFrom<[JobState, JobResult]>(
  ['scheduled', 'none'],
  ['scheduled', 'none'],
  ['scheduled', 'none'],
  ['running', 'none'],
  ['done', 'passed'],
  ['done', 'failed'],
);

const scenario = fc
  .record({
    jobs: fc.array(
      fc.record({ priority: fc.integer({ min: 0, max: 5 }), classes: classSet, status: jobStatus }),
      {
        minLength: 1,
        maxLength: 25,
      },
    ),
    slots: fc.array(fc.record({ classes: fc.subarray(CLASSES), stale: fc.boolean() }), { maxLength: 12 }),
    edges: fc.array(
      fc.record({
        a: fc.nat(),
        b: fc.nat(),
        kind: fc.constantFrom<DependencyKind>('chained', 'directly_chained', 'parallel'),
      }),
      { maxLength: 15 },
    ),
    limit: fc.constantFrom(0, 0, 3, 6),
  })
  .map(({ jobs, slots, edges, limit }) => {
    const slotList = slots.map((s, i) =>
      slot(`s${i}`, s.classes, { lastSeen: s.stale ? NOW - 200_000 : NOW }),
    );
    const free = [...slotList];
    const jobList: SchedulerJob[] = jobs.map((j, i) => {
      const [state, result] = j.status;
      // a running job holds a slot of its own (or none is left, and it stays scheduled)
      const held = state === 'running' ? free.shift() : undefined;
      const running = state === 'running' && held !== undefined;
      return job(i + 1, {
        priority: j.priority,
        workerClasses: running ? held!.classes.filter((c) => CLASSES.includes(c)).slice(0, 1) : j.classes,
        state: state === 'running' && !running ? 'scheduled' : state,
        result,
        slotId: running ? held!.id : null,
        startedAt: running ? NOW : null,
      });
    });
    const seen = new Set<string>();
    const edgeList = edges
      .map((e) => {
        const x = (e.a % jobList.length) + 1;
        const y = (e.b % jobList.length) + 1;
        return edge(Math.min(x, y), Math.max(x, y), e.kind);
      })
      .filter((e) => e.parent !== e.child)
      .filter((e) => {
        const key = `${e.parent}-${e.child}`;
        if (seen.has(key)) return false;
        seen.add(key);
        return true;
      });
    return { jobs: jobList, slots: slotList, edges: edgeList, limit };
  });

describe('decision invariants', () => {
  it('never double-books a slot, matches classes, keeps clusters whole and dependencies honoured', () => {
    fc.assert(
      fc.property(scenario, ({ jobs, slots, edges, limit }) => {
        const decision = decide(input({ jobs, slots, edges, config: { maxRunningJobs: limit } }));
        const byId = new Map(jobs.map((j) => [j.id, j]));
        const slotById = new Map(slots.map((s) => [s.id, s]));
        const graph = new DependencyGraph(edges);
        const status = new Map(jobs.map((j) => [j.id, { state: j.state, result: j.result }]));
        for (const change of decision.changes) {
          expect(checkTransition(status.get(change.jobId)!, change.to)).toEqual({ ok: true });
          status.set(change.jobId, change.to);
        }
        const usedSlots = new Set<string>();
        const slotOf = new Map<number, string>();
        const busyAfter = new Set(
          jobs.filter((j) => j.slotId && isExecutionState(status.get(j.id)!.state)).map((j) => j.slotId!),
        );
        for (const assignment of decision.assignments) {
          // one assignment per slot, never a busy or stale slot
          expect(usedSlots.has(assignment.slotId)).toBe(false);
          usedSlots.add(assignment.slotId);
          expect(busyAfter.has(assignment.slotId)).toBe(false);
          const s = slotById.get(assignment.slotId)!;
          expect(NOW - s.lastSeen).toBeLessThanOrEqual(120_000);
          assignment.jobIds.forEach((id, position) => {
            const j = byId.get(id)!;
            expect(status.get(id)!.state).toBe('scheduled');
            expect(slotOf.has(id)).toBe(false);
            slotOf.set(id, assignment.slotId);
            // the slot offers every class the job needs
            for (const cls of j.workerClasses) expect(s.classes).toContain(cls);
            // chained parents passed
            for (const p of graph.parentsOf(id, 'chained'))
              expect(isOkResult(status.get(p)!.result)).toBe(true);
            // a directly chained parent is final and ok, or earlier in the same sequence
            for (const p of graph.parentsOf(id, 'directly_chained')) {
              const before = assignment.jobIds.indexOf(p);
              if (before === -1) expect(isOkResult(status.get(p)!.result)).toBe(true);
              else expect(before).toBeLessThan(position);
            }
          });
        }
        // parallel clusters: every scheduled member starts with it, each in its own slot
        for (const id of slotOf.keys()) {
          const members = graph.parallelCluster(id).filter((m) => status.get(m)!.state === 'scheduled');
          for (const m of members) expect(slotOf.has(m)).toBe(true);
          const slotsUsed = new Set(members.map((m) => slotOf.get(m)));
          expect(slotsUsed.size).toBe(members.length);
        }
        // priority order among independent jobs: a later job never took a slot an earlier one could use
        const independent = (j: SchedulerJob) => !graph.hasAny(j.id);
        const key = (j: SchedulerJob) => [j.priority, j.createdAt, j.id] as const;
        const before = (x: SchedulerJob, y: SchedulerJob) => {
          const [a, b] = [key(x), key(y)];
          return a[0] < b[0] || (a[0] === b[0] && (a[1] < b[1] || (a[1] === b[1] && a[2] < b[2])));
        };
        for (const waiting of jobs) {
          if (
            !independent(waiting) ||
            status.get(waiting.id)!.state !== 'scheduled' ||
            slotOf.has(waiting.id)
          )
            continue;
          for (const [id, slotId] of slotOf) {
            const taker = byId.get(id)!;
            if (!independent(taker) || !before(waiting, taker)) continue;
            const usable = waiting.workerClasses.every((c) => slotById.get(slotId)!.classes.includes(c));
            expect(usable).toBe(false);
          }
        }
        // a waiting job always says why
        for (const j of jobs)
          if (status.get(j.id)!.state === 'scheduled' && !slotOf.has(j.id))
            expect(decision.reasons.has(j.id)).toBe(true);
      }),
      { numRuns: 400 },
    );
  });
});

describe('jobs no slot can take', () => {
  it('change nothing for the other jobs when they have no dependencies, wherever their priority puts them', () => {
    fc.assert(
      fc.property(
        scenario,
        fc.array(fc.record({ priority: fc.integer({ min: -5, max: 10 }), age: fc.nat(1000) }), {
          minLength: 1,
          maxLength: 20,
        }),
        ({ jobs, slots, edges, limit }, extra) => {
          const config = { maxRunningJobs: limit };
          const alone = decide(input({ jobs, slots, edges, config }));
          // jobs for a class no slot offers, before, among and after the others in the order
          const unmatched = extra.map((e, i) =>
            job(1000 + i, { priority: e.priority, createdAt: NOW - e.age, workerClasses: ['z'] }),
          );
          const together = decide(input({ jobs: [...unmatched, ...jobs], slots, edges, config }));
          expect(together.assignments).toEqual(alone.assignments);
          expect(together.changes).toEqual(alone.changes);
          expect(together.restarts).toEqual(alone.restarts);
          expect(together.heldSlots).toEqual(alone.heldSlots);
          expect(together.priorityOffsets).toEqual(alone.priorityOffsets);
          expect(together.nextWakeAt).toEqual(alone.nextWakeAt);
          const reasons = new Map(together.reasons);
          for (const j of unmatched) {
            expect(reasons.get(j.id)).toBe('no slot of class z');
            reasons.delete(j.id);
          }
          expect(reasons).toEqual(alone.reasons);
        },
      ),
      { numRuns: 300 },
    );
  });
});

describe('loop invariants', () => {
  type Op =
    | { op: 'create'; classes: string[]; priority: number; retry: boolean }
    | { op: 'depend'; a: number; b: number; kind: DependencyKind }
    | { op: 'slot'; classes: string[] }
    | { op: 'drop-slot'; n: number }
    | { op: 'step'; n: number; result: JobResult }
    | { op: 'time'; seconds: number }
    | { op: 'cancel'; n: number }
    | { op: 'restart'; n: number };

  const ops = fc.array(
    fc.oneof(
      {
        weight: 3,
        arbitrary: fc.record({
          op: fc.constant('create' as const),
          classes: classSet,
          priority: fc.nat(5),
          retry: fc.boolean(),
        }),
      },
      {
        weight: 2,
        arbitrary: fc.record({
          op: fc.constant('depend' as const),
          a: fc.nat(),
          b: fc.nat(),
          kind: fc.constantFrom<DependencyKind>('chained', 'directly_chained', 'parallel'),
        }),
      },
      {
        weight: 1,
        arbitrary: fc.record({ op: fc.constant('slot' as const), classes: fc.subarray(CLASSES) }),
      },
      { weight: 1, arbitrary: fc.record({ op: fc.constant('drop-slot' as const), n: fc.nat() }) },
      {
        weight: 8,
        arbitrary: fc.record({
          op: fc.constant('step' as const),
          n: fc.nat(),
          result: fc.constantFrom<JobResult>('passed', 'failed', 'incomplete', 'softfailed'),
        }),
      },
      {
        weight: 1,
        arbitrary: fc.record({ op: fc.constant('time' as const), seconds: fc.integer({ min: 1, max: 300 }) }),
      },
      { weight: 1, arbitrary: fc.record({ op: fc.constant('cancel' as const), n: fc.nat() }) },
      { weight: 1, arbitrary: fc.record({ op: fc.constant('restart' as const), n: fc.nat() }) },
    ) as fc.Arbitrary<Op>,
    { minLength: 20, maxLength: 60 },
  );

  it('keeps every job history legal and every slot to one job at a time', async () => {
    await fc.assert(
      fc.asyncProperty(ops, async (script) => {
        const clock = new ManualClock(NOW);
        const store = new MemoryStore(clock);
        const loop = new SchedulerLoop({ store, clock, config: { maxRunningJobs: 4 } });
        loop.start();
        let slotCount = 0;
        for (const classes of [[], ['a'], ['a', 'b']]) store.upsertSlot({ id: `s${slotCount++}`, classes });
        const ids = () => store.all().map((j) => j.id);
        try {
          for (const step of script) {
            const all = ids();
            const pick = (n: number) => all[n % Math.max(1, all.length)];
            switch (step.op) {
              case 'create':
                store.createJob({
                  test: `t${all.length}`,
                  priority: step.priority,
                  settings: { WORKER_CLASS: step.classes.join(','), ...(step.retry ? { RETRY: '1' } : {}) },
                });
                break;
              case 'depend': {
                const [a, b] = [pick(step.a), pick(step.b)];
                // only between fresh scheduled jobs, parent older than child (as job creation does)
                if (
                  a !== undefined &&
                  b !== undefined &&
                  a < b &&
                  store.get(a).state === 'scheduled' &&
                  store.get(b).state === 'scheduled'
                )
                  store.addDependency(a, b, step.kind);
                break;
              }
              case 'slot':
                store.upsertSlot({ id: `s${slotCount++}`, classes: step.classes });
                break;
              case 'drop-slot':
                if (slotCount > 0) store.removeSlot(`s${step.n % slotCount}`);
                break;
              case 'step': {
                const moving = store.all().filter((j) => isExecutionState(j.state));
                const id = moving[step.n % Math.max(1, moving.length)]?.id;
                if (id === undefined) break;
                const j = store.get(id);
                // a FAKE runner (no real runner yet) moves its job one step on
                if (j.state === 'assigned' && store.jobsOfSlot(j.slotId!)[0]?.id === id)
                  store.report(id, 'setup');
                else if (j.state === 'setup') store.report(id, 'running');
                else if (j.state === 'running') store.report(id, 'uploading');
                else if (j.state === 'uploading') store.report(id, 'done', step.result);
                break;
              }
              case 'time':
                clock.advance(step.seconds * 1000);
                for (let i = 0; i < slotCount; i++) if (step.seconds < 100) tryHeartbeat(store, `s${i}`);
                break;
              case 'cancel': {
                const id = pick(step.n);
                if (id !== undefined) await loop.cancel(id);
                break;
              }
              case 'restart': {
                const id = pick(step.n);
                if (id !== undefined) await loop.restart(id).catch(() => undefined);
                break;
              }
            }
            await loop.idle();
            const holders = new Map<string, number>();
            for (const j of store.all()) {
              if (!j.slotId || !isExecutionState(j.state) || j.state === 'assigned') continue;
              expect(holders.has(j.slotId)).toBe(false);
              holders.set(j.slotId, j.id);
            }
          }
          const audit = auditTransitions(store.transitions);
          expect(audit.violations).toEqual([]);
        } finally {
          await loop.stop();
        }
      }),
      { numRuns: 150 },
    );
  });
});

function tryHeartbeat(store: MemoryStore, slotId: string): void {
  try {
    store.heartbeat(slotId);
  } catch {
    // the slot was dropped
  }
}
