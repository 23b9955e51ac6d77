// The scheduler on the database: PgSchedulerStore + SchedulerLoop + leadership (startScheduler),
// on real PostgreSQL and on the embedded PGlite. Jobs are created, run and finished the way the
// API and the runner routes do it (db/jobs.ts, db/results.ts, db/job-actions.ts), and every
// transition the database recorded must be legal.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type OpenDatabase, openPglite, openPostgres } from '../../db/connect.js';
import { cancelJobs, setDone, setPriority } from '../../db/job-actions.js';
import { insertJobs, type NewEdge, type NewJob } from '../../db/jobs.js';
import { migrate } from '../../db/migrate.js';
import { writeStatus } from '../../db/results.js';
import { heartbeatSlots, jobsOfSlot, registerSlots, removeSlots } from '../../db/slots.js';
import { auditTransitions } from '../../domain/jobs/state-machine.js';
import type { JobResult, JobState } from '../../domain/jobs/states.js';
import type { StoppedJob } from '../../operator/scheduler/loop.js';
import { PgSchedulerStore } from '../../operator/scheduler/pg-store.js';
import { type RunningScheduler, startScheduler } from '../../operator/scheduler/run-scheduler.js';
import type { Assignment } from '../../operator/scheduler/types.js';
import { publishUiEvent } from '../../webui/ui/event-fanout.js';
import { createDatabase, testEnv } from '../env/index.js';
import { recordedTransitions } from '../helpers/jobs.js';
import { waitUntil } from '../helpers/wait-until.js';

function job(test: string, settings: Record<string, string> = {}, priority = 50): NewJob {
  const multi: Record<string, string[]> = { TEST: [test] };
  for (const [key, value] of Object.entries(settings)) multi[key] = [value];
  return {
    test,
    distri: 'kubeqa',
    version: '1',
    flavor: 'demo',
    arch: 'x86_64',
    build: '1',
    machine: '64bit',
    groupId: null,
    priority,
    scheduledProductId: null,
    settings: multi,
    assets: [],
  };
}

interface Row {
  id: number;
  state: JobState;
  result: JobResult;
  reason: string | null;
  slot_id: string | null;
  clone_id: number | null;
  ancestors: number;
}

async function rowOf(database: OpenDatabase, id: number): Promise<Row> {
  const [row] = await database.query<Row>(
    'select id, state, result, reason, slot_id, clone_id, ancestors from jobs where id = $1',
    [id],
  );
  if (!row) throw new Error(`job ${id} is gone`);
  return { ...row, id: Number(row.id), clone_id: row.clone_id === null ? null : Number(row.clone_id) };
}

async function audit(database: OpenDatabase): Promise<ReturnType<typeof auditTransitions>> {
  return auditTransitions(await recordedTransitions(database));
}

/** What a runner does through the runner routes: setup, running, then done with a result. */
async function runnerRuns(database: OpenDatabase, id: number, result: 'passed' | 'failed' | 'incomplete') {
  await database.transaction((q) => writeStatus(q, id, 'setup', []));
  await database.transaction((q) => writeStatus(q, id, 'running', []));
  await setDone(database, id, result, result === 'incomplete' ? 'runner died: exit code 137' : undefined);
}

const flavours: Array<[string, () => Promise<OpenDatabase>]> = [
  [
    'PostgreSQL',
    async () => openPostgres({ url: await createDatabase(await testEnv.postgres(), 'scheduler_pg_store') }),
  ],
  ['PGlite', () => openPglite()],
];

describe.each(flavours)('the scheduler on %s', (_name, open) => {
  let database: OpenDatabase;
  let scheduler: RunningScheduler;
  const assignments: Assignment[] = [];
  const stopped: StoppedJob[] = [];

  beforeAll(async () => {
    database = await open();
    await migrate(database);
    scheduler = await startScheduler({
      database,
      onAssigned: (a) => assignments.push(a),
      onStopped: (s) => stopped.push(s),
    });
    await scheduler.leading;
  });

  afterAll(async () => {
    await scheduler?.stop();
    await database?.close();
  });

  const assignedJobs = () => assignments.flatMap((a) => a.jobIds);
  const settled = async (condition: () => boolean | Promise<boolean>) => {
    expect(await waitUntil(condition, 15_000)).toBe(true);
    await scheduler.loop.idle();
  };

  it('assigns jobs created through the database to registered slots, woken by NOTIFY only', async () => {
    const [a, b, c] = await database.transaction((q) =>
      insertJobs(q, [
        job('first', { WORKER_CLASS: 'qemu_x86_64' }),
        job('second', { WORKER_CLASS: 'qemu_x86_64' }),
        job('tap', { WORKER_CLASS: 'qemu_x86_64,tap' }),
      ]),
    );
    // no slot yet: every job waits, and says why
    await settled(async () => (await rowOf(database, c!)).reason !== null);
    expect((await rowOf(database, a!)).reason).toBe('no slot of class qemu_x86_64');
    await database.transaction((q) =>
      registerSlots(q, [
        { id: 'local/0', pool: 'local', classes: ['qemu_x86_64'] },
        { id: 'local/1', pool: 'local', classes: ['qemu_x86_64'] },
      ]),
    );
    await settled(() => assignedJobs().includes(b!));
    expect(assignments.map((x) => x.jobIds)).toEqual([[a], [b]]);
    expect(assignments.map((x) => x.slotId).sort()).toEqual(['local/0', 'local/1']);
    const slotOfA = assignments[0]!.slotId;
    expect(await rowOf(database, a!)).toMatchObject({ state: 'assigned', slot_id: slotOfA });
    expect((await rowOf(database, c!)).reason).toBe('no slot of class qemu_x86_64,tap');
    expect(await jobsOfSlot(database.query, slotOfA)).toEqual([
      { id: a, state: 'assigned', result: 'none', sequenceIndex: 0, test: 'first' },
    ]);
    // the scheduler's own writes do not wake it again and again
    const passes = scheduler.loop.passCount;
    await database.query('select 1');
    await scheduler.loop.idle();
    expect(scheduler.loop.passCount).toBe(passes);
  });

  it('follows up what runners report: a failed parent skips its chained child, RETRY clones', async () => {
    // free the slots of the first test
    for (const id of assignedJobs()) await runnerRuns(database, id, 'passed');
    const [parent, child] = await database.transaction((q) =>
      insertJobs(
        q,
        [job('install', { WORKER_CLASS: 'qemu_x86_64', RETRY: '1' }, 10), job('desktop', {}, 10)],
        [{ child: 1, parent: 0, type: 'chained' } satisfies NewEdge],
      ),
    );
    await settled(() => assignedJobs().includes(parent!));
    expect((await rowOf(database, child!)).reason).toBe(`waiting for job ${parent}`);
    await runnerRuns(database, parent!, 'failed');
    await settled(async () => (await rowOf(database, parent!)).clone_id !== null);
    expect(await rowOf(database, child!)).toMatchObject({ state: 'cancelled', result: 'skipped' });
    const clone = (await rowOf(database, parent!)).clone_id!;
    await settled(async () => (await rowOf(database, clone)).state === 'assigned');
    expect(await rowOf(database, clone)).toMatchObject({
      ancestors: 1,
      reason: 'RETRY=1: restarted 0 time(s) so far',
    });
    // the child was cloned with it, waiting for the clone
    const [childClone] = await database.query<{ child_job_id: number }>(
      "select child_job_id from job_dependencies where parent_job_id = $1 and dependency = 'chained'",
      [clone],
    );
    expect((await rowOf(database, Number(childClone!.child_job_id))).reason).toBe(`waiting for job ${clone}`);
    // the clone passes: the follow-up flag is cleared, nothing is cloned again
    await runnerRuns(database, clone, 'passed');
    await settled(async () => (await rowOf(database, Number(childClone!.child_job_id))).state === 'assigned');
    expect((await database.query('select id from jobs where follow_up and id = $1', [clone])).length).toBe(0);
    expect((await rowOf(database, clone)).clone_id).toBeNull();
    await runnerRuns(database, Number(childClone!.child_job_id), 'passed');
  });

  it('tells the executor to stop a job cancelled through the API while it held a slot', async () => {
    const [id] = await database.transaction((q) =>
      insertJobs(q, [job('to-cancel', { WORKER_CLASS: 'qemu_x86_64' })]),
    );
    await settled(() => assignedJobs().includes(id!));
    await database.transaction((q) => writeStatus(q, id!, 'running', []));
    await cancelJobs(database, [id!]);
    await settled(() => stopped.some((s) => s.jobId === id));
    expect(stopped.find((s) => s.jobId === id)).toMatchObject({
      to: { state: 'cancelled', result: 'user_cancelled' },
    });
  });

  it('abandons the job of a slot that stopped reporting and re-queues it as a clone', async () => {
    await database.transaction((q) =>
      registerSlots(q, [{ id: 'flaky/0', pool: 'flaky', classes: ['flaky'] }]),
    );
    const [id] = await database.transaction((q) =>
      insertJobs(q, [job('on-flaky', { WORKER_CLASS: 'flaky' })]),
    );
    await settled(() => assignedJobs().includes(id!));
    await database.transaction((q) => writeStatus(q, id!, 'running', []));
    // the slot's last report lies three minutes back (default timeout: 120 s)
    await database.query("update slots set last_seen = now() - interval '3 minutes' where id = 'flaky/0'");
    scheduler.loop.wake('timer');
    await settled(async () => (await rowOf(database, id!)).clone_id !== null);
    expect(await rowOf(database, id!)).toMatchObject({ state: 'done', result: 'incomplete' });
    expect((await rowOf(database, id!)).reason).toMatch(
      /^abandoned: slot flaky\/0 has not reported for \d+ s$/,
    );
    const clone = (await rowOf(database, id!)).clone_id!;
    expect(await rowOf(database, clone)).toMatchObject({ state: 'scheduled' });
    expect((await rowOf(database, clone)).reason).toMatch(/stopped reporting|no free slot|no slot/);
    // the slot reports again: the stale slot coming back wakes the scheduler, the clone runs there
    expect(await heartbeatSlots(database.query, ['flaky/0', 'unknown/9'])).toEqual(['unknown/9']);
    await settled(() => assignedJobs().includes(clone));
    await runnerRuns(database, clone, 'passed');
    await database.transaction((q) => removeSlots(q, ['flaky/0']));
  });

  it('ends a job that runs past MAX_JOB_TIME × TIMEOUT_SCALE with timeout_exceeded', async () => {
    const [id] = await database.transaction((q) =>
      insertJobs(q, [job('slow', { WORKER_CLASS: 'qemu_x86_64', MAX_JOB_TIME: '60', TIMEOUT_SCALE: '2' })]),
    );
    await settled(() => assignedJobs().includes(id!));
    await database.transaction((q) => writeStatus(q, id!, 'running', []));
    await database.query("update jobs set t_started = now() - interval '121 seconds' where id = $1", [id]);
    scheduler.loop.wake('timer');
    await settled(async () => (await rowOf(database, id!)).state === 'done');
    expect(await rowOf(database, id!)).toMatchObject({
      result: 'timeout_exceeded',
      reason: 'timeout: test execution exceeded MAX_JOB_TIME (120 s)',
    });
    expect(stopped.some((s) => s.jobId === id && s.to.result === 'timeout_exceeded')).toBe(true);
  });

  it('refuses a second busy job in one slot in the database itself', async () => {
    const [x, y] = await database.transaction((q) =>
      insertJobs(q, [job('x', { WORKER_CLASS: 'none' }), job('y', { WORKER_CLASS: 'none' })]),
    );
    await database.query(
      "update jobs set slot_id = 'local/0', sequence_index = 0, state = 'setup' where id = $1",
      [x],
    );
    await expect(
      database.query(
        "update jobs set slot_id = 'local/0', sequence_index = 1, state = 'setup' where id = $1",
        [y],
      ),
    ).rejects.toThrow(/jobs_slot_busy_idx/);
    await database.query(
      "update jobs set state = 'cancelled', result = 'user_cancelled' where id = any($1::bigint[])",
      [[x, y]],
    );
  });

  it('commits compare-and-set: a change whose job moved on is a conflict and writes nothing', async () => {
    const store = new PgSchedulerStore(database);
    const [id] = await database.transaction((q) =>
      insertJobs(q, [job('cas', { WORKER_CLASS: 'none' })], [], { wakeScheduler: false }),
    );
    const result = await store.commit({
      now: Date.now(),
      changes: [
        {
          jobId: id!,
          from: { state: 'assigned', result: 'none' },
          to: { state: 'scheduled', result: 'none' },
          reason: 'stale view',
        },
      ],
      assignments: [{ slotId: 'no-such-slot', jobIds: [id!] }],
      clones: [],
      priorities: [],
      reasons: new Map(),
      priorityOffsets: new Map(),
      followedUp: [],
    });
    expect(result.conflicts).toEqual([id, id]);
    expect(await rowOf(database, id!)).toMatchObject({ state: 'scheduled', slot_id: null });
    await cancelJobs(database, [id!]);
  });

  it('applies two changes of one job in one commit in order, as the decision gives them', async () => {
    const store = new PgSchedulerStore(database);
    const [id] = await database.transaction((q) =>
      insertJobs(q, [job('twice', { WORKER_CLASS: 'none' })], [], { wakeScheduler: false }),
    );
    // a slot offering no class: the running scheduler cannot give it the job itself
    await database.transaction((q) => registerSlots(q, [{ id: 'twice/0', pool: 'twice', classes: [] }]));
    // the running scheduler has looked at the new job (and will not hold its row meanwhile)
    await settled(async () => (await rowOf(database, id!)).reason !== null);
    const outcome = {
      now: Date.now(),
      changes: [],
      assignments: [],
      clones: [],
      priorities: [],
      reasons: new Map<number, string>(),
      priorityOffsets: new Map<number, number>(),
      followedUp: [],
    };
    expect(
      (await store.commit({ ...outcome, assignments: [{ slotId: 'twice/0', jobIds: [id!] }] })).conflicts,
    ).toEqual([]);
    // its slot went stale (back to scheduled), then its cluster failed (skipped), in one pass
    const result = await store.commit({
      ...outcome,
      changes: [
        {
          jobId: id!,
          from: { state: 'assigned', result: 'none' },
          to: { state: 'scheduled', result: 'none' },
          reason: 'slot twice/0 stopped reporting',
        },
        {
          jobId: id!,
          from: { state: 'scheduled', result: 'none' },
          to: { state: 'cancelled', result: 'skipped' },
          reason: 'parallel parent failed',
        },
      ],
    });
    expect(result.conflicts).toEqual([]);
    expect(await rowOf(database, id!)).toMatchObject({
      state: 'cancelled',
      result: 'skipped',
      slot_id: null,
    });
    await database.transaction((q) => removeSlots(q, ['twice/0']));
  });

  it('leaves a record of legal transitions only', async () => {
    const report = await audit(database);
    expect(report.violations).toEqual([]);
  });
});

describe.each(flavours)('the scheduler reading a long queue on %s', (_name, open) => {
  let database: OpenDatabase;
  let scheduler: RunningScheduler;
  const assignments: Assignment[] = [];
  /** Job rows the scheduler read (its job queries read `from jobs j`). */
  let jobRowsRead = 0;
  let counted: OpenDatabase;
  let queue: number[] = [];

  const start = async (fullReadEveryMs: number) => {
    scheduler = await startScheduler({
      database: counted,
      fullReadEveryMs,
      onAssigned: (a) => assignments.push(a),
    });
    await scheduler.leading;
    await scheduler.loop.idle();
  };

  beforeAll(async () => {
    database = await open();
    await migrate(database);
    counted = {
      ...database,
      query: async <T>(sql: string, params?: unknown[]) => {
        const rows = await database.query<T>(sql, params);
        if (/from jobs j\b/.test(sql)) jobRowsRead += rows.length;
        return rows;
      },
    };
    // no full read while the first tests run
    await start(600_000);
  });

  afterAll(async () => {
    await scheduler?.stop();
    await database?.close();
  });

  const assignedJobs = () => assignments.flatMap((a) => a.jobIds);
  const settled = async (condition: () => boolean | Promise<boolean>) => {
    expect(await waitUntil(condition, 15_000)).toBe(true);
    await scheduler.loop.idle();
  };

  it('writes the reasons of jobs no slot can take when they arrive', async () => {
    // 2,000 jobs for a class no slot offers, one in ten waiting for the job before it
    queue = await database.transaction((q) =>
      insertJobs(
        q,
        Array.from({ length: 2000 }, (_, i) => job(`waiting-${i}`, { WORKER_CLASS: 'qemu_s390x' })),
        Array.from(
          { length: 200 },
          (_, k): NewEdge => ({ child: 10 * k + 1, parent: 10 * k, type: 'chained' }),
        ),
      ),
    );
    await settled(async () => (await rowOf(database, queue.at(-1)!)).reason !== null);
    expect((await rowOf(database, queue[0]!)).reason).toBe('no slot of class qemu_s390x');
    expect((await rowOf(database, queue[1]!)).reason).toBe(`waiting for job ${queue[0]}`);
    const [unexplained] = await database.query<{ n: number }>(
      'select count(*)::int as n from jobs where id = any($1::bigint[]) and reason is null',
      [queue],
    );
    expect(unexplained!.n).toBe(0);
  });

  it('assigns a new job to a free slot without reading the waiting jobs again', async () => {
    const before = scheduler.loop.passCount;
    await database.transaction((q) =>
      registerSlots(q, [{ id: 'x86/0', pool: 'p', classes: ['qemu_x86_64'] }]),
    );
    await settled(() => scheduler.loop.passCount > before);
    jobRowsRead = 0;
    const [id] = await database.transaction((q) =>
      insertJobs(q, [job('new', { WORKER_CLASS: 'qemu_x86_64' })]),
    );
    await settled(() => assignedJobs().includes(id!));
    expect(await rowOf(database, id!)).toMatchObject({ state: 'assigned', slot_id: 'x86/0' });
    // the new job and the jobs holding slots, not the 2,000 waiting ones
    expect(jobRowsRead).toBeGreaterThan(0);
    expect(jobRowsRead).toBeLessThan(20);
  });

  it('gives a waiting job a slot of its class when one appears, and rewrites the reasons that changed', async () => {
    await database.transaction((q) =>
      registerSlots(q, [{ id: 's390x/0', pool: 'p', classes: ['qemu_s390x'] }]),
    );
    await settled(
      async () => (await rowOf(database, queue[2]!)).reason === 'no free slot of class qemu_s390x',
    );
    expect(assignedJobs()).toContain(queue[0]);
    expect(await rowOf(database, queue[0]!)).toMatchObject({ state: 'assigned', slot_id: 's390x/0' });
    expect((await rowOf(database, queue[1]!)).reason).toBe(`waiting for job ${queue[0]}`);
    expect((await rowOf(database, queue.at(-1)!)).reason).toBe('no free slot of class qemu_s390x');
  });

  it('uses a priority changed through the API in the next pass', async () => {
    const [older, newer] = await database.transaction((q) =>
      insertJobs(q, [job('older', { WORKER_CLASS: 'prio' }), job('newer', { WORKER_CLASS: 'prio' })]),
    );
    await settled(async () => (await rowOf(database, newer!)).reason !== null);
    // what the priority route does
    await setPriority(database, newer!, 10);
    await publishUiEvent(database, { type: 'job.priority', id: newer! });
    expect(await waitUntil(() => scheduler.store.willRead(newer!), 15_000)).toBe(true);
    await database.transaction((q) => registerSlots(q, [{ id: 'prio/0', pool: 'p', classes: ['prio'] }]));
    await settled(() => assignedJobs().includes(newer!));
    expect((await rowOf(database, older!)).state).toBe('scheduled');
  });

  it('notices a change no event announced at its next full read', async () => {
    await scheduler.stop();
    await start(300);
    const id = queue.at(-1)!;
    // a row edited by hand: no event, and the decision's reason is the one it last wrote
    await database.query("update jobs set reason = 'edited by hand' where id = $1", [id]);
    await settled(async () => (await rowOf(database, id)).reason === 'no free slot of class qemu_s390x');
  });
});

describe('the scheduler on PostgreSQL with several processes', () => {
  it('skips rows another transaction holds instead of waiting for them', async () => {
    const database = openPostgres({
      url: await createDatabase(await testEnv.postgres(), 'scheduler_pg_locks'),
    });
    try {
      await migrate(database);
      await database.transaction((q) => registerSlots(q, [{ id: 's', pool: 'p', classes: [] }]));
      const [id] = await database.transaction((q) => insertJobs(q, [job('held')]));
      const store = new PgSchedulerStore(database);
      let release: () => void = () => undefined;
      const held = new Promise<void>((resolve) => {
        release = resolve;
      });
      let locked: () => void = () => undefined;
      const isLocked = new Promise<void>((resolve) => {
        locked = resolve;
      });
      // an API request holds the job's row (a cancel in progress)
      const holder = database.transaction(async (q) => {
        await q('select id from jobs where id = $1 for update', [id]);
        locked();
        await held;
      });
      await isLocked;
      const result = await store.commit({
        now: Date.now(),
        changes: [],
        assignments: [{ slotId: 's', jobIds: [id!] }],
        clones: [],
        priorities: [],
        reasons: new Map(),
        priorityOffsets: new Map(),
        followedUp: [],
      });
      release();
      await holder;
      expect(result.conflicts).toEqual([id]);
      expect(await rowOf(database, id!)).toMatchObject({ state: 'scheduled' });
    } finally {
      await database.close();
    }
  });

  it('lets one instance lead; another takes over when the leader stops', async () => {
    const url = await createDatabase(await testEnv.postgres(), 'scheduler_pg_leaders');
    const one = openPostgres({ url });
    const two = openPostgres({ url });
    await migrate(one);
    const first = await startScheduler({ database: one, retryLockMs: 50 });
    const second = await startScheduler({ database: two, retryLockMs: 50 });
    try {
      await first.leading;
      expect(first.isLeader()).toBe(true);
      expect(second.isLeader()).toBe(false);
      // the follower's loop runs no passes
      expect(second.loop.passCount).toBe(0);
      await first.stop();
      await second.leading;
      expect(second.isLeader()).toBe(true);
      await two.transaction((q) => registerSlots(q, [{ id: 'after', pool: 'p', classes: [] }]));
      const [id] = await two.transaction((q) => insertJobs(q, [job('after-failover')]));
      expect(await waitUntil(async () => (await rowOf(two, id!)).state === 'assigned', 15_000)).toBe(true);
    } finally {
      await first.stop();
      await second.stop();
      await one.close();
      await two.close();
    }
  });

  it('re-reads after its listening connection was cut, and loses leadership with its lock connection', async () => {
    const url = await createDatabase(await testEnv.postgres(), 'scheduler_pg_cut');
    const one = openPostgres({ url });
    const two = openPostgres({ url });
    const admin = openPostgres({ url });
    await migrate(one);
    // the first backs off for a minute after losing its lock, so the second is the one to take over
    const first = await startScheduler({ database: one, retryLockMs: 60_000 });
    await first.leading;
    const second = await startScheduler({ database: two, retryLockMs: 50 });
    try {
      // cut the leader's LISTEN connection: it reconnects and runs a pass to catch up
      const before = first.loop.passCount;
      await admin.query(
        "select pg_terminate_backend(pid) from pg_stat_activity where query like 'listen %' and datname = current_database()",
      );
      expect(await waitUntil(() => first.loop.passCount > before, 15_000)).toBe(true);
      // after the reconnect, NOTIFY reaches it again
      await one.transaction((q) => registerSlots(q, [{ id: 'cut', pool: 'p', classes: [] }]));
      const [id] = await one.transaction((q) => insertJobs(q, [job('after-cut')]));
      expect(await waitUntil(async () => (await rowOf(one, id!)).state === 'assigned', 15_000)).toBe(true);
      // cut the connection that holds the advisory lock: the other instance leads
      await admin.query(
        "select pg_terminate_backend(pid) from pg_locks where locktype = 'advisory' and granted",
      );
      await second.leading;
      expect(await waitUntil(() => !first.isLeader(), 15_000)).toBe(true);
      expect(second.isLeader()).toBe(true);
    } finally {
      await first.stop();
      await second.stop();
      await Promise.all([one.close(), two.close(), admin.close()]);
    }
  });
});
