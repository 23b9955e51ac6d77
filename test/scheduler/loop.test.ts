import { afterEach, describe, expect, it } from 'vitest';
import { isKubeqaError } from '../../domain/errors.js';
import { auditTransitions } from '../../domain/jobs/state-machine.js';
import type { JobResult } from '../../domain/jobs/states.js';
import { ManualClock } from '../../operator/scheduler/clock.js';
import { type LoopOptions, SchedulerLoop } from '../../operator/scheduler/loop.js';
import { MemoryStore } from '../../operator/scheduler/memory-store.js';
import type { SchedulerStore } from '../../operator/scheduler/port.js';
import type { Assignment } from '../../operator/scheduler/types.js';
import { NOW } from './fixtures.js';

const loops: SchedulerLoop[] = [];

function setup(options: Partial<LoopOptions> & { store?: SchedulerStore } = {}) {
  const clock = new ManualClock(NOW);
  const memory = new MemoryStore(clock);
  const assignments: Assignment[] = [];
  const loop = new SchedulerLoop({
    store: memory,
    clock,
    onAssigned: (a) => assignments.push(a),
    ...options,
  });
  loops.push(loop);
  return { clock, store: memory, loop, assignments };
}

afterEach(async () => {
  for (const loop of loops.splice(0)) await loop.stop();
});

/**
 * A FAKE runner (the real one lands with the local executor): reports what a runner reports for
 * a job it got — setup, running, uploading, done with a result — through the store's report path.
 */
function fakeRunnerRunsToEnd(store: MemoryStore, id: number, result: JobResult = 'passed') {
  store.report(id, 'setup');
  store.report(id, 'running');
  store.report(id, 'uploading');
  store.report(id, 'done', result);
}

describe('scheduler loop', () => {
  it('runs one pass for a burst of events and assigns at once', async () => {
    const { store, loop, assignments } = setup();
    loop.start();
    await loop.idle();
    const before = loop.passCount;
    for (let i = 0; i < 10; i++) store.upsertSlot({ id: `s${i}` });
    for (let i = 0; i < 100; i++) store.createJob({ test: `t${i}` });
    await loop.idle();
    expect(loop.passCount - before).toBe(1);
    expect(assignments.flatMap((a) => a.jobIds)).toHaveLength(10);
    expect(store.get(11).reason).toBe('no free slot of class (any)');
  });

  it('has no tick: with nothing due, no timer is armed and time passing runs no pass', async () => {
    const { clock, store, loop } = setup();
    store.upsertSlot({ id: 'a' });
    store.createJob({ test: 'waits', settings: { WORKER_CLASS: 'nowhere' } });
    loop.start();
    await loop.idle();
    const passes = loop.passCount;
    expect(clock.pendingTimers).toBe(0);
    clock.advance(3_600_000);
    await loop.idle();
    expect(loop.passCount).toBe(passes);
  });

  it('runs at most one pass at a time; wakes during a pass make exactly one more', async () => {
    const clock = new ManualClock(NOW);
    const memory = new MemoryStore(clock);
    let open: () => void = () => {};
    let gate: Promise<void> | null = null;
    let inside = 0;
    let most = 0;
    const gated: SchedulerStore = {
      async load(now) {
        inside += 1;
        most = Math.max(most, inside);
        if (gate) await gate;
        return memory.load(now);
      },
      async commit(outcome) {
        const result = await memory.commit(outcome);
        inside -= 1;
        return result;
      },
      subscribe: (listener) => memory.subscribe(listener),
    };
    const loop = new SchedulerLoop({ store: gated, clock });
    loops.push(loop);
    loop.start();
    await loop.idle();
    const before = loop.passCount;
    gate = new Promise((resolve) => {
      open = resolve;
    });
    memory.upsertSlot({ id: 'a' });
    await new Promise((resolve) => setImmediate(resolve)); // the pass starts and waits at the gate
    for (let i = 0; i < 5; i++) memory.createJob({ test: `t${i}` });
    gate = null;
    open();
    await loop.idle();
    expect(loop.passCount - before).toBe(2);
    expect(most).toBe(1);
    expect(memory.all().filter((j) => j.state === 'assigned')).toHaveLength(1);
  });

  it('wakes on its own when a job exceeds MAX_JOB_TIME × TIMEOUT_SCALE', async () => {
    const { clock, store, loop } = setup();
    store.upsertSlot({ id: 'a' });
    const id = store.createJob({ test: 'slow', settings: { MAX_JOB_TIME: '30', TIMEOUT_SCALE: '2' } });
    loop.start();
    await loop.idle();
    store.report(id, 'setup');
    store.report(id, 'running');
    await loop.idle();
    // the slot keeps reporting; the job keeps running
    clock.advance(59_000);
    store.heartbeat('a');
    await loop.idle();
    expect(store.get(id).state).toBe('running');
    clock.advance(1_000);
    await loop.idle();
    expect(store.get(id)).toMatchObject({
      state: 'done',
      result: 'timeout_exceeded',
      reason: 'timeout: test execution exceeded MAX_JOB_TIME (60 s)',
    });
    expect(auditTransitions(store.transitions, { requireFinal: true }).ok).toBe(true);
  });

  it('abandons the job of a slot that stops reporting and runs a clone elsewhere', async () => {
    const { clock, store, loop } = setup({ config: { slotTimeoutMs: 120_000 } });
    store.upsertSlot({ id: 'a' });
    const id = store.createJob({ test: 'install' });
    loop.start();
    await loop.idle();
    expect(store.get(id).slotId).toBe('a');
    store.report(id, 'setup');
    store.report(id, 'running');
    await loop.idle();
    clock.advance(60_000);
    store.upsertSlot({ id: 'b' }); // a second slot appears and keeps reporting
    await loop.idle();
    clock.advance(61_000);
    store.heartbeat('b');
    await loop.idle();
    const original = store.get(id);
    expect(original).toMatchObject({ state: 'done', result: 'incomplete' });
    expect(original.reason).toBe('abandoned: slot a has not reported for 121 s');
    expect(original.clonedAs).not.toBeNull();
    const clone = store.get(original.clonedAs!);
    expect(clone).toMatchObject({ state: 'assigned', slotId: 'b', ancestors: 1, incompleteAncestors: 1 });
    expect(auditTransitions(store.transitions).ok).toBe(true);
  });

  it('restarts a failed job while RETRY allows, then stops', async () => {
    const { store, loop } = setup();
    store.upsertSlot({ id: 'a' });
    const first = store.createJob({ test: 'flaky', settings: { RETRY: '1:known flake' } });
    loop.start();
    await loop.idle();
    fakeRunnerRunsToEnd(store, first, 'failed');
    await loop.idle();
    const second = store.get(first).clonedAs!;
    expect(store.get(second)).toMatchObject({ state: 'assigned', ancestors: 1 });
    fakeRunnerRunsToEnd(store, second, 'failed');
    await loop.idle();
    expect(store.get(second).clonedAs).toBeNull();
    expect(auditTransitions(store.transitions, { requireFinal: true }).ok).toBe(true);
  });

  it('cancels and restarts with cluster propagation through the loop', async () => {
    const { store, loop } = setup();
    for (const id of ['a', 'b', 'c']) store.upsertSlot({ id });
    const install = store.createJob({ test: 'install' });
    const server = store.createJob({ test: 'server' });
    const client = store.createJob({ test: 'client' });
    const after = store.createJob({ test: 'after' });
    store.addDependency(install, server, 'chained');
    store.addDependency(server, client, 'parallel');
    store.addDependency(client, after, 'chained');
    loop.start();
    await loop.idle();
    fakeRunnerRunsToEnd(store, install);
    await loop.idle();
    expect(store.get(server).state).toBe('assigned');
    expect(store.get(client).state).toBe('assigned');
    store.report(server, 'setup');
    store.report(server, 'running');
    store.report(client, 'setup');
    store.report(client, 'running');

    const restarted = await loop.restart(client);
    await loop.idle();
    expect(store.get(client).result).toBe('user_restarted');
    expect(store.get(server).result).toBe('parallel_restarted');
    expect(store.get(after).result).toBe('skipped');
    expect(store.get(install).clonedAs).toBeNull();
    expect([...restarted.cloned.keys()].sort()).toEqual([server, client, after].sort());
    const newClient = restarted.cloned.get(client)!;
    expect(store.get(newClient).state).toBe('assigned');

    const cancelled = await loop.cancel(restarted.cloned.get(server)!);
    expect(cancelled.changes.map((c) => `${c.jobId}:${c.to.result}`).sort()).toEqual(
      [
        `${restarted.cloned.get(server)}:user_cancelled`,
        `${newClient}:skipped`,
        `${restarted.cloned.get(after)}:skipped`,
      ].sort(),
    );
    await expect(loop.restart(restarted.cloned.get(after)!)).resolves.toBeDefined();
    await expect(loop.restart(install)).resolves.toBeDefined();
    const error = await loop.restart(install).catch((e: unknown) => e);
    expect(isKubeqaError(error) && error.code).toBe('KQ_ERR_CONFLICT');
    expect(auditTransitions(store.transitions).ok).toBe(true);
  });

  it('tells the executor which running jobs to stop, and only those', async () => {
    const stopped: string[] = [];
    const { clock, store, loop } = setup({
      onStopped: (s) => stopped.push(`${s.jobId}@${s.slotId}:${s.to.state}/${s.to.result}`),
    });
    store.upsertSlot({ id: 'a' });
    store.upsertSlot({ id: 'b' });
    const server = store.createJob({ test: 'server', settings: { MAX_JOB_TIME: '10' } });
    const client = store.createJob({ test: 'client' });
    const waiting = store.createJob({ test: 'later' });
    store.addDependency(server, client, 'parallel');
    store.addDependency(client, waiting, 'chained');
    loop.start();
    await loop.idle();
    for (const id of [server, client]) {
      store.report(id, 'setup');
      store.report(id, 'running');
    }
    await loop.idle();
    clock.advance(10_000);
    await loop.idle();
    // the server timed out: it and its parallel client stop; the waiting job is skipped, not stopped
    expect(stopped.sort()).toEqual(
      [
        `${client}@${store.get(client).slotId}:cancelled/parallel_failed`,
        `${server}@${store.get(server).slotId}:done/timeout_exceeded`,
      ].sort(),
    );
    expect(store.get(client).slotId).not.toBe(store.get(server).slotId);
    expect(store.get(waiting).result).toBe('skipped');
    const next = store.createJob({ test: 'next' });
    await loop.idle();
    store.report(next, 'setup');
    await loop.cancel(next);
    expect(stopped).toContain(`${next}@${store.get(next).slotId}:cancelled/user_cancelled`);
  });

  it('runs a cluster mixing all three kinds end to end, and restarts its middle job', async () => {
    const { store, loop, assignments } = setup();
    store.upsertSlot({ id: 'a' });
    store.upsertSlot({ id: 'b' });
    const install = store.createJob({ test: 'install' });
    const server = store.createJob({ test: 'server' });
    const client = store.createJob({ test: 'client' });
    const checkB = store.createJob({ test: 'check-b' });
    const checkA = store.createJob({ test: 'check-a' });
    const checkA2 = store.createJob({ test: 'check-a-2' });
    store.addDependency(install, server, 'chained');
    store.addDependency(server, client, 'parallel');
    store.addDependency(client, checkB, 'directly_chained');
    store.addDependency(client, checkA, 'directly_chained');
    store.addDependency(checkA, checkA2, 'directly_chained');
    loop.start();
    await loop.idle();
    expect(assignments.map((a) => a.jobIds)).toEqual([[install]]);
    expect(store.get(client).reason).toBe(`waiting for job ${install} (parallel cluster member ${server})`);
    fakeRunnerRunsToEnd(store, install);
    await loop.idle();
    // server and client start together; the client's slot runs its checks after it, a before b
    expect(assignments.slice(1).map((a) => a.jobIds)).toEqual(
      expect.arrayContaining([[server], [client, checkA, checkA2, checkB]]),
    );
    expect(store.jobsOfSlot(store.get(client).slotId!).map((j) => j.id)).toEqual([
      client,
      checkA,
      checkA2,
      checkB,
    ]);
    store.report(server, 'setup');
    store.report(server, 'running');
    fakeRunnerRunsToEnd(store, client);
    fakeRunnerRunsToEnd(store, checkA, 'failed');
    await loop.idle();
    // check-a's sub-tree is skipped, check-b still runs in the same slot
    expect(store.get(checkA2)).toMatchObject({ state: 'cancelled', result: 'skipped' });
    expect(store.get(checkB).state).toBe('assigned');
    expect(store.get(server).state).toBe('running');
    fakeRunnerRunsToEnd(store, checkB);
    store.report(server, 'uploading');
    store.report(server, 'done', 'passed');
    await loop.idle();

    // restart the middle job: its parallel parent and directly chained children come along,
    // the passed install does not
    const { cloned } = await loop.restart(client);
    await loop.idle();
    expect([...cloned.keys()].sort((x, y) => x - y)).toEqual([server, client, checkB, checkA, checkA2]);
    expect(store.get(install).clonedAs).toBeNull();
    const [server2, client2] = [cloned.get(server)!, cloned.get(client)!];
    expect(store.get(server2).state).toBe('assigned');
    expect(store.jobsOfSlot(store.get(client2).slotId!).map((j) => j.id)).toEqual(
      [client, checkA, checkA2, checkB].map((id) => cloned.get(id)!),
    );
    for (const id of [client, checkA, checkA2, checkB].map((j) => cloned.get(j)!))
      fakeRunnerRunsToEnd(store, id);
    fakeRunnerRunsToEnd(store, server2);
    await loop.idle();
    expect(store.all().filter((j) => j.state !== 'done' && j.state !== 'cancelled')).toEqual([]);
    const audit = auditTransitions(store.transitions, { requireFinal: true });
    expect(audit.violations).toEqual([]);
  });

  it('obsoletes pending jobs of an older build', async () => {
    const { store, loop } = setup();
    const product = { distri: 'debian', version: '12', flavor: 'netinst', arch: 'x86_64' };
    const old = store.createJob({ test: 'install', product: { ...product, build: '1' } });
    loop.start();
    await loop.idle();
    await loop.obsolete({ ...product, build: '2' });
    expect(store.get(old)).toMatchObject({ state: 'cancelled', result: 'obsoleted' });
  });

  it('does not starve a parallel cluster behind a stream of higher-priority single jobs', async () => {
    const { store, loop } = setup();
    store.upsertSlot({ id: 'a' });
    store.upsertSlot({ id: 'b' });
    let single = store.createJob({ test: 'single-0', priority: 10 });
    let other = store.createJob({ test: 'single-1', priority: 10 });
    const server = store.createJob({ test: 'server', priority: 20 });
    const client = store.createJob({ test: 'client', priority: 20 });
    store.addDependency(server, client, 'parallel');
    loop.start();
    await loop.idle();
    let rounds = 0;
    while (store.get(server).state === 'scheduled' && rounds < 100) {
      rounds += 1;
      // one single job ends, a new one arrives: without protection one always takes the freed slot
      fakeRunnerRunsToEnd(store, single);
      store.createJob({ test: `single-${rounds + 1}`, priority: 10 });
      await loop.idle();
      [single, other] = [other, store.jobsOfSlot('a')[0]?.id ?? store.jobsOfSlot('b')[0]!.id];
      if (store.get(single).state === 'done') single = other;
    }
    expect(store.get(server).state).toBe('assigned');
    expect(store.get(client).state).toBe('assigned');
    expect(rounds).toBeGreaterThan(1);
    expect(rounds).toBeLessThan(40);
    expect(auditTransitions(store.transitions).ok).toBe(true);
  });

  it('rejects an illegal report from a runner with a coded error', async () => {
    const { store, loop } = setup();
    store.upsertSlot({ id: 'a' });
    const id = store.createJob({ test: 'x' });
    loop.start();
    await loop.idle();
    fakeRunnerRunsToEnd(store, id);
    let thrown: unknown;
    try {
      store.report(id, 'running');
    } catch (error) {
      thrown = error;
    }
    expect(isKubeqaError(thrown) && thrown.code).toBe('KQ_ERR_ILLEGAL_TRANSITION');
    expect(store.get(id).state).toBe('done');
  });

  it('refuses bad settings when a job is created', () => {
    const { store } = setup();
    expect(() => store.createJob({ test: 'x', settings: { MAX_JOB_TIME: 'soon' } })).toThrow(
      /MAX_JOB_TIME="soon" is not a positive number/,
    );
    expect(() => store.createJob({ test: 'x', settings: { RETRY: 'often' } })).toThrow(/RETRY="often"/);
    expect(store.all()).toHaveLength(0);
  });
});
