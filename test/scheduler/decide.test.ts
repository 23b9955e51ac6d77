import { describe, expect, it } from 'vitest';
import { assigned, assignedIds, changed, edge, job, NOW, run, slot } from './fixtures.js';

const S = 1000;

describe('order and matching', () => {
  it('takes the lowest priority value first, then the oldest job, then the lowest id', () => {
    const decision = run({
      jobs: [
        job(1, { priority: 50, createdAt: NOW - 10 }),
        job(2, { priority: 40, createdAt: NOW - 5 }),
        job(3, { priority: 50, createdAt: NOW - 20 }),
        job(4, { priority: 50, createdAt: NOW - 20 }),
      ],
      slots: [slot('a'), slot('b')],
    });
    expect(assignedIds(decision)).toEqual([2, 3]);
    expect(decision.reasons.get(4)).toBe('no free slot of class (any)');
    expect(decision.reasons.get(1)).toBe('no free slot of class (any)');
  });

  it('needs a slot having every class of WORKER_CLASS', () => {
    const decision = run({
      jobs: [
        job(1, { workerClasses: ['qemu_x86_64', 'tap'] }),
        job(2, { workerClasses: ['s390x'] }),
        job(3, { workerClasses: ['qemu_x86_64'] }),
      ],
      slots: [slot('plain', ['qemu_x86_64']), slot('tap', ['big', 'qemu_x86_64', 'tap'])],
    });
    expect(assigned(decision)).toEqual({ tap: [1], plain: [3] });
    expect(decision.reasons.get(2)).toBe('no slot of class s390x');
  });

  it('fits a job into the slot with the fewest extra classes, keeping special slots free', () => {
    const decision = run({
      jobs: [job(1, { workerClasses: ['qemu'] }), job(2, { workerClasses: ['qemu', 'tap'] })],
      slots: [slot('special', ['qemu', 'tap']), slot('plain', ['qemu'])],
    });
    expect(assigned(decision)).toEqual({ plain: [1], special: [2] });
  });

  it('tells "no free slot" from "no slot of that class at all"', () => {
    const decision = run({
      jobs: [
        job(1, { workerClasses: ['qemu'] }),
        job(2, { state: 'running', slotId: 'q', startedAt: NOW }),
        job(3, { workerClasses: ['arm'] }),
      ],
      slots: [slot('q', ['qemu'])],
    });
    expect(decision.reasons.get(1)).toBe('no free slot of class qemu');
    expect(decision.reasons.get(3)).toBe('no slot of class arm');
  });

  it('respects the global limit of running jobs', () => {
    const decision = run({
      jobs: [job(1, { state: 'running', slotId: 'a', startedAt: NOW }), job(2), job(3), job(4)],
      slots: [slot('a'), slot('b'), slot('c'), slot('d')],
      config: { maxRunningJobs: 2 },
    });
    expect(assignedIds(decision)).toEqual([2]);
    expect(decision.reasons.get(3)).toBe('global limit reached: 2 of 2 jobs running');
  });
});

describe('START_AFTER (chained)', () => {
  const edges = [edge(1, 2, 'chained'), edge(2, 3, 'chained')];

  it('waits while the parent is pending', () => {
    const decision = run({
      jobs: [job(1, { state: 'running', slotId: 'a', startedAt: NOW }), job(2), job(3)],
      edges,
      slots: [slot('a'), slot('b')],
    });
    expect(assignedIds(decision)).toEqual([]);
    expect(decision.reasons.get(2)).toBe('waiting for job 1');
    expect(decision.reasons.get(3)).toBe('waiting for job 2');
  });

  it.each(['passed', 'softfailed'] as const)('starts after a parent that %s', (result) => {
    const decision = run({
      jobs: [job(1, { state: 'done', result }), job(2), job(3)],
      edges,
      slots: [slot('a'), slot('b')],
    });
    expect(assignedIds(decision)).toEqual([2]);
  });

  it('skips the children of a parent that failed, recursively', () => {
    const decision = run({
      jobs: [job(1, { state: 'done', result: 'failed' }), job(2), job(3)],
      edges,
      slots: [slot('a')],
    });
    expect(changed(decision)).toEqual({ 2: 'cancelled/skipped', 3: 'cancelled/skipped' });
    expect(decision.changes[0]!.reason).toBe('skipped: parent job 1 ended failed');
    expect(assignedIds(decision)).toEqual([]);
  });

  it('skips them at once when the parent’s failure is reported', () => {
    const decision = run({
      jobs: [job(1, { state: 'done', result: 'failed', slotId: 'a' }), job(2), job(3)],
      edges,
      finished: [1],
      slots: [slot('a')],
    });
    expect(changed(decision)).toEqual({ 2: 'cancelled/skipped', 3: 'cancelled/skipped' });
    expect(decision.followedUp).toEqual([1]);
  });
});

describe('START_DIRECTLY_AFTER (directly chained)', () => {
  // A(1) → {D(4) → E(5), B(2) → C(3)}
  const edges = [
    edge(1, 4, 'directly_chained'),
    edge(4, 5, 'directly_chained'),
    edge(1, 2, 'directly_chained'),
    edge(2, 3, 'directly_chained'),
  ];
  const tests = { 1: 'A', 2: 'B', 3: 'C', 4: 'D', 5: 'E' } as Record<number, string>;
  const tree = () => [1, 2, 3, 4, 5].map((id) => job(id, { test: tests[id]! }));

  it('runs the whole tree in one slot, sub-trees by test name', () => {
    const decision = run({ jobs: tree(), edges, slots: [slot('a'), slot('b'), slot('c')] });
    expect(assigned(decision)).toEqual({ c: [1, 2, 3, 4, 5] });
  });

  it('skips only the sub-tree of a job that failed', () => {
    const running = [
      job(1, { test: 'A', state: 'done', result: 'passed', slotId: 'a', sequenceIndex: 0 }),
      job(2, { test: 'B', state: 'done', result: 'failed', slotId: 'a', sequenceIndex: 1 }),
      job(3, { test: 'C', state: 'assigned', slotId: 'a', sequenceIndex: 2, assignedAt: NOW }),
      job(4, { test: 'D', state: 'assigned', slotId: 'a', sequenceIndex: 3, assignedAt: NOW }),
      job(5, { test: 'E', state: 'assigned', slotId: 'a', sequenceIndex: 4, assignedAt: NOW }),
    ];
    const decision = run({ jobs: running, edges, finished: [2], slots: [slot('a')] });
    expect(changed(decision)).toEqual({ 3: 'cancelled/skipped' });
  });

  it('skips everything after a failed root', () => {
    const jobs = tree().map((j) =>
      j.id === 1
        ? { ...j, state: 'done' as const, result: 'failed' as const, slotId: 'a' }
        : { ...j, state: 'assigned' as const, slotId: 'a', sequenceIndex: j.id, assignedAt: NOW },
    );
    const decision = run({ jobs, edges, finished: [1], slots: [slot('a')] });
    expect(Object.keys(changed(decision))).toEqual(['2', '3', '4', '5']);
  });

  it('leaves a child waiting for its sequence', () => {
    const decision = run({
      jobs: [job(1, { state: 'running', slotId: 'a', startedAt: NOW }), job(2)],
      edges: [edge(1, 2, 'directly_chained')],
      slots: [slot('a'), slot('b')],
    });
    expect(assignedIds(decision)).toEqual([]);
    expect(decision.reasons.get(2)).toBe('runs directly after job 1 in the same slot');
  });
});

describe('PARALLEL_WITH', () => {
  const edges = [edge(1, 2, 'parallel'), edge(1, 3, 'parallel')];

  it('starts all members together or none', () => {
    const none = run({ jobs: [job(1), job(2), job(3)], edges, slots: [slot('a'), slot('b')] });
    expect(assignedIds(none)).toEqual([]);
    expect(none.reasons.get(2)).toMatch(/^parallel cluster of 3 jobs waits for all its slots: no free slot/);
    const all = run({ jobs: [job(1), job(2), job(3)], edges, slots: [slot('a'), slot('b'), slot('c')] });
    expect(assignedIds(all)).toEqual([1, 2, 3]);
    expect(new Set(all.assignments.map((a) => a.slotId)).size).toBe(3);
  });

  it('lets smaller jobs use slots a cluster cannot fill', () => {
    const decision = run({
      jobs: [
        job(1, { priority: 10 }),
        job(2, { priority: 10 }),
        job(3, { priority: 10 }),
        job(4, { priority: 90 }),
      ],
      edges,
      slots: [slot('a'), slot('b')],
    });
    expect(assignedIds(decision)).toEqual([4]);
  });

  it('stops the cluster when a member fails: running ones parallel_failed, waiting ones skipped', () => {
    const decision = run({
      jobs: [
        job(1, { state: 'running', slotId: 'a', startedAt: NOW }),
        job(2, { state: 'done', result: 'failed', slotId: 'b' }),
        job(3, { state: 'assigned', slotId: 'c', assignedAt: NOW }),
        job(4),
      ],
      edges: [...edges, edge(1, 4, 'chained')],
      finished: [2],
      slots: [slot('a'), slot('b'), slot('c')],
    });
    expect(changed(decision)).toEqual({
      1: 'cancelled/parallel_failed',
      3: 'cancelled/skipped',
      4: 'cancelled/skipped',
    });
  });

  it('starts the missing members of a half-running cluster even at the limit', () => {
    const decision = run({
      jobs: [
        job(1, { state: 'running', slotId: 'a', startedAt: NOW }),
        job(2),
        job(3, { state: 'done', result: 'passed' }),
      ],
      edges,
      slots: [slot('a'), slot('b')],
      config: { maxRunningJobs: 1 },
    });
    expect(assigned(decision)).toEqual({ b: [2] });
  });

  it('protects a starving cluster: it gains priority each pass and finally holds slots', () => {
    const cluster = [job(1, { priority: 2 }), job(2, { priority: 2 })];
    const busy = job(10, { state: 'running', slotId: 'b', startedAt: NOW });
    const first = run({
      jobs: [...cluster, busy, job(3, { priority: 1 })],
      edges: [edge(1, 2, 'parallel')],
      slots: [slot('a'), slot('b')],
    });
    expect(assignedIds(first)).toEqual([3]);
    expect(first.priorityOffsets).toEqual(
      new Map([
        [1, 1],
        [2, 1],
      ]),
    );
    // the next time a slot is free the cluster (effective priority 1, older) comes first, still
    // cannot start, and reaches 0: it now holds the free slot against a newer priority-1 job
    const second = run({
      jobs: [...cluster, busy, job(4, { priority: 1, createdAt: NOW })],
      edges: [edge(1, 2, 'parallel')],
      slots: [slot('a'), slot('b')],
      offsets: first.priorityOffsets,
    });
    expect(assignedIds(second)).toEqual([]);
    expect(second.heldSlots).toEqual(new Map([['a', 1]]));
    expect(second.reasons.get(1)).toContain('holding 1 slot(s) for it');
    expect(second.reasons.get(4)).toBe('no free slot of class (any)');
    // once the second slot frees, the cluster starts and its offsets are gone
    const third = run({
      jobs: [
        ...cluster,
        { ...busy, state: 'done', result: 'passed' },
        job(4, { priority: 1, createdAt: NOW }),
      ],
      edges: [edge(1, 2, 'parallel')],
      slots: [slot('a'), slot('b')],
      offsets: second.priorityOffsets,
    });
    expect(assignedIds(third)).toEqual([1, 2]);
    expect(third.priorityOffsets.has(1)).toBe(false);
  });

  it('does not hold slots for a cluster that has no slot of its class at all', () => {
    const decision = run({
      jobs: [job(1, { priority: 0 }), job(2, { priority: 0, workerClasses: ['nowhere'] }), job(3)],
      edges: [edge(1, 2, 'parallel')],
      slots: [slot('a')],
    });
    expect(assignedIds(decision)).toEqual([3]);
    expect(decision.reasons.get(1)).toBe('no slot of class nowhere (parallel cluster member 2)');
    expect(decision.reasons.get(2)).toBe('no slot of class nowhere');
  });
});

describe('a cluster mixing all three kinds', () => {
  // install(1) →chained server(2) ⇉parallel client(3); client →direct {check-b(4), check-a(5)}
  const edges = [
    edge(1, 2, 'chained'),
    edge(2, 3, 'parallel'),
    edge(3, 4, 'directly_chained'),
    edge(3, 5, 'directly_chained'),
  ];
  const jobs = (install: Partial<ReturnType<typeof job>>) => [
    job(1, { test: 'install', ...install }),
    job(2, { test: 'server' }),
    job(3, { test: 'client' }),
    job(4, { test: 'check-b' }),
    job(5, { test: 'check-a' }),
  ];

  it('waits for the install, then starts server and client together, the client’s checks after it', () => {
    const waiting = run({
      jobs: jobs({ state: 'running', slotId: 'x', startedAt: NOW }),
      edges,
      slots: [slot('x'), slot('a'), slot('b')],
    });
    expect(assignedIds(waiting)).toEqual([]);
    expect(waiting.reasons.get(2)).toBe('waiting for job 1');
    expect(waiting.reasons.get(3)).toBe('waiting for job 1 (parallel cluster member 2)');
    expect(waiting.reasons.get(5)).toBe('runs directly after job 3 in the same slot');

    const ready = run({
      jobs: jobs({ state: 'done', result: 'passed' }),
      edges,
      slots: [slot('a'), slot('b')],
    });
    const bySlot = Object.values(assigned(ready)).sort((x, y) => x.length - y.length);
    expect(bySlot).toEqual([[2], [3, 5, 4]]);
  });

  it('skips the whole cluster when the install fails', () => {
    const decision = run({
      jobs: jobs({ state: 'done', result: 'failed' }),
      edges,
      finished: [1],
      slots: [slot('a'), slot('b')],
    });
    expect(changed(decision)).toEqual({
      2: 'cancelled/skipped',
      3: 'cancelled/skipped',
      4: 'cancelled/skipped',
      5: 'cancelled/skipped',
    });
  });
});

describe('timeouts', () => {
  it('ends a job running longer than MAX_JOB_TIME × TIMEOUT_SCALE', () => {
    const decision = run({
      jobs: [
        job(1, { state: 'running', slotId: 'a', startedAt: NOW - 7200 * S }),
        job(2, { state: 'running', slotId: 'b', startedAt: NOW - 7200 * S, timeoutScale: 2 }),
        job(3, { state: 'running', slotId: 'c', startedAt: NOW - 50 * S, maxJobSeconds: 60 }),
      ],
      slots: [slot('a'), slot('b'), slot('c')],
    });
    expect(changed(decision)).toEqual({ 1: 'done/timeout_exceeded' });
    expect(decision.changes[0]!.reason).toBe('timeout: test execution exceeded MAX_JOB_TIME (7200 s)');
    // job 3 is the next deadline (10 s away); slots go stale later
    expect(decision.nextWakeAt).toBe(NOW + 10 * S);
  });

  it('ends a setup longer than MAX_SETUP_TIME × TIMEOUT_SCALE, counting an assigned head too', () => {
    const decision = run({
      jobs: [
        job(1, { state: 'setup', slotId: 'a', assignedAt: NOW - 4000 * S, setupAt: NOW - 3600 * S }),
        job(2, {
          state: 'assigned',
          slotId: 'b',
          assignedAt: NOW - 100 * S,
          maxSetupSeconds: 50,
          timeoutScale: 2,
        }),
        job(3, {
          state: 'assigned',
          slotId: 'c',
          assignedAt: NOW - 99 * S,
          maxSetupSeconds: 50,
          timeoutScale: 2,
        }),
      ],
      slots: [slot('a'), slot('b'), slot('c')],
    });
    expect(changed(decision)).toEqual({ 1: 'done/timeout_exceeded', 2: 'done/timeout_exceeded' });
    expect(decision.changes[1]!.reason).toBe('timeout: setup exceeded MAX_SETUP_TIME (100 s)');
  });

  it('starts the setup clock of a sequence’s next job when the one before it ended', () => {
    const decision = run({
      jobs: [
        job(1, { state: 'done', result: 'passed', slotId: 'a', sequenceIndex: 0, finishedAt: NOW - 10 * S }),
        job(2, {
          state: 'assigned',
          slotId: 'a',
          sequenceIndex: 1,
          assignedAt: NOW - 5000 * S,
          maxSetupSeconds: 60,
        }),
        job(3, {
          state: 'assigned',
          slotId: 'a',
          sequenceIndex: 2,
          assignedAt: NOW - 5000 * S,
          maxSetupSeconds: 1,
        }),
      ],
      edges: [edge(1, 2, 'directly_chained'), edge(2, 3, 'directly_chained')],
      slots: [slot('a')],
    });
    // job 2 became the head 10 s ago (limit 60 s); job 3 is not the head, so no clock yet
    expect(decision.changes).toEqual([]);
    expect(decision.nextWakeAt).toBe(NOW + 50 * S);
  });

  it('stops the parallel cluster of a job that timed out', () => {
    const decision = run({
      jobs: [
        job(1, { state: 'running', slotId: 'a', startedAt: NOW - 8000 * S }),
        job(2, { state: 'running', slotId: 'b', startedAt: NOW }),
      ],
      edges: [edge(1, 2, 'parallel')],
      slots: [slot('a'), slot('b')],
    });
    expect(changed(decision)).toEqual({ 1: 'done/timeout_exceeded', 2: 'cancelled/parallel_failed' });
  });
});

describe('a slot that stops reporting', () => {
  const stale = { lastSeen: NOW - 121 * S };

  it('abandons its running job (incomplete) and re-queues a clone: the reason is a known transient one', () => {
    const decision = run({
      jobs: [job(1, { state: 'running', slotId: 'a', startedAt: NOW - 200 * S })],
      slots: [slot('a', [], stale), slot('b')],
    });
    expect(changed(decision)).toEqual({ 1: 'done/incomplete' });
    expect(decision.changes[0]!.reason).toBe('abandoned: slot a has not reported for 121 s');
    expect(decision.restarts).toEqual([
      {
        jobId: 1,
        why: 'auto-clone: "abandoned: slot a has not reported for 121 s" is a known transient failure',
      },
    ]);
  });

  it('puts a job it never started back in the queue and gives it another slot', () => {
    const decision = run({
      jobs: [job(1, { state: 'assigned', slotId: 'a', assignedAt: NOW - 200 * S })],
      slots: [slot('a', [], stale), slot('b')],
    });
    expect(changed(decision)).toEqual({ 1: 'scheduled/none' });
    expect(assigned(decision)).toEqual({ b: [1] });
    expect(decision.restarts).toEqual([]);
  });

  it('treats a vanished slot like a stale one and never assigns to a stale slot', () => {
    const decision = run({
      jobs: [job(1, { state: 'uploading', slotId: 'gone' }), job(2)],
      slots: [slot('a', [], stale)],
    });
    expect(changed(decision)).toEqual({ 1: 'done/incomplete' });
    expect(decision.changes[0]!.reason).toBe('abandoned: slot gone is gone');
    expect(assignedIds(decision)).toEqual([]);
  });

  it('stops auto-cloning after autoCloneLimit incomplete clones in a row', () => {
    const decision = run({
      jobs: [job(1, { state: 'running', slotId: 'a', incompleteAncestors: 3 })],
      slots: [slot('a', [], stale)],
      config: { autoCloneLimit: 3 },
    });
    expect(decision.restarts).toEqual([]);
  });

  it('wakes up when a busy slot would go stale', () => {
    const decision = run({
      jobs: [job(1, { state: 'running', slotId: 'a', startedAt: NOW })],
      slots: [slot('a', [], { lastSeen: NOW - 100 * S })],
    });
    expect(decision.nextWakeAt).toBe(NOW + 20 * S + 1);
  });
});

describe('RETRY and auto-clone of finished jobs', () => {
  it('restarts a failed job while RETRY allows', () => {
    const decision = run({
      jobs: [
        job(1, { state: 'done', result: 'failed', retry: 2, ancestors: 1 }),
        job(2, { state: 'done', result: 'failed', retry: 2, ancestors: 2 }),
        job(3, { state: 'done', result: 'passed', retry: 2 }),
        job(4, { state: 'cancelled', result: 'user_cancelled', retry: 2 }),
        job(5, { state: 'done', result: 'timeout_exceeded', retry: 1 }),
        job(6, { state: 'done', result: 'failed', retry: 5, clonedAs: 99 }),
      ],
      finished: [1, 2, 3, 4, 5, 6],
    });
    expect(decision.restarts.map((r) => r.jobId)).toEqual([1, 5]);
    expect(decision.restarts[0]!.why).toBe('RETRY=2: restarted 1 time(s) so far');
    expect(decision.followedUp).toEqual([1, 2, 3, 4, 5, 6]);
  });

  it('auto-clones an incomplete job whose reason is a known transient failure, not others', () => {
    const decision = run({
      jobs: [
        job(1, { state: 'done', result: 'incomplete', reason: 'cache failure: download of x.iso failed' }),
        job(2, { state: 'done', result: 'incomplete', reason: 'runner died: exit code 137' }),
        job(3, { state: 'done', result: 'incomplete', reason: 'backend died: QEMU exited' }),
      ],
      finished: [1, 2, 3],
    });
    expect(decision.restarts.map((r) => r.jobId)).toEqual([1, 2]);
  });
});
