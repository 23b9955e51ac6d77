// Scheduler benchmarks through the database: the PostgreSQL store (PgSchedulerStore), the loop and
// leadership (startScheduler) on real PostgreSQL from the test harness, or on the embedded PGlite.
// Jobs and slots are written the way the API and the executors write them (one transaction each
// where openQA's clients would make one request each), wake-ups travel through NOTIFY, and runners
// report through the same functions as the runner routes. Timed from the first write until every
// job is assigned (or, for the drain, finished).
// The two queue scenarios (issue #6: a new job for a free slot must not wait for a pass over a
// long queue) measure per-job latencies instead: 15,000 queued jobs no slot can take while new
// jobs for free slots are created one at a time (created → assigned), and 15,000 queued jobs that
// match but find every slot busy while slots free one at a time (slot frees → next assigned).
// Run: npx tsx bench/scheduler/db.ts [--runs N] [--flavour postgres|pglite] [--only queue|classic]
//      [--samples N] [--queue N] [--warmup N] (queue scenarios: samples per run, queue size, warm-up runs)
import { cpus, loadavg } from 'node:os';
import { type OpenDatabase, openPglite, openPostgres } from '../../db/connect.js';
import { setDone } from '../../db/job-actions.js';
import { insertJobs, type NewEdge, type NewJob } from '../../db/jobs.js';
import { migrate } from '../../db/migrate.js';
import { writeStatus } from '../../db/results.js';
import { heartbeatSlots, jobsOfSlot, registerSlots } from '../../db/slots.js';
import { startScheduler } from '../../operator/scheduler/run-scheduler.js';
import { createDatabase, testEnv } from '../../test/env/index.js';

const arg = (name: string) => {
  const at = process.argv.indexOf(name);
  return at > 0 ? process.argv[at + 1] : undefined;
};
const RUNS = Number(arg('--runs') ?? 5);
const FLAVOUR = arg('--flavour') ?? 'postgres';
const ONLY = arg('--only');
/** How many jobs are created (or slots freed) one at a time per run in the queue scenarios. */
const SAMPLES = Number(arg('--samples') ?? 40);
/** The size of the queue in the queue scenarios. */
const QUEUE = Number(arg('--queue') ?? 15_000);
/** Warm-up runs of each queue scenario (not counted). */
const WARMUP = Number(arg('--warmup') ?? 1);

let counter = 0;
async function freshDatabase(): Promise<OpenDatabase> {
  counter += 1;
  const database =
    FLAVOUR === 'pglite'
      ? await openPglite()
      : openPostgres({
          url: await createDatabase(await testEnv.postgres(), `bench_scheduler_${process.pid}_${counter}`),
        });
  await migrate(database);
  return database;
}

function newJob(i: number, classes: string, priority = 50, prefix = 'job'): NewJob {
  return {
    test: `${prefix}-${i}`,
    distri: 'bench',
    version: '1',
    flavor: 'dvd',
    arch: 'x86_64',
    build: '1',
    machine: '64bit',
    groupId: null,
    priority,
    scheduledProductId: null,
    settings: { TEST: [`${prefix}-${i}`], WORKER_CLASS: [classes] },
    assets: [],
  };
}

function counterTo(count: number): { promise: Promise<void>; add: (n: number) => void } {
  let left = count;
  let resolve: () => void = () => undefined;
  const promise = new Promise<void>((r) => {
    resolve = r;
  });
  return {
    promise,
    add: (n) => {
      left -= n;
      if (left <= 0) resolve();
    },
  };
}

async function withScheduler(
  prepare: (database: OpenDatabase) => Promise<void>,
  act: (database: OpenDatabase) => Promise<void>,
  expected: number,
  /** A runner for each assignment; calls `finished(n)` when n jobs are done. Without it, assignments count. */
  onAssigned?: (database: OpenDatabase, jobIds: readonly number[], finished: (n: number) => void) => void,
): Promise<number> {
  const database = await freshDatabase();
  const waiter = counterTo(expected);
  await prepare(database);
  const scheduler = await startScheduler({
    database,
    onAssigned: (a) => {
      if (onAssigned) onAssigned(database, a.jobIds, waiter.add);
      else waiter.add(a.jobIds.length);
    },
  });
  await scheduler.leading;
  await scheduler.loop.idle();
  const started = performance.now();
  await act(database);
  await waiter.promise;
  const elapsed = performance.now() - started;
  await scheduler.stop();
  await database.close();
  return elapsed;
}

const slots = (count: number, classes: (i: number) => string[] = () => ['qemu_x86_64'], prefix = 'slot') =>
  Array.from({ length: count }, (_, i) => ({ id: `${prefix}-${i}`, pool: 'bench', classes: classes(i) }));

/** 1: 100 free slots; 100 jobs posted at once (one POST isos). */
const freeSlotsThenJobs = () =>
  withScheduler(
    (db) => db.transaction((q) => registerSlots(q, slots(100))),
    (db) =>
      db.transaction((q) =>
        insertJobs(
          q,
          Array.from({ length: 100 }, (_, i) => newJob(i, 'qemu_x86_64')),
        ).then(() => undefined),
      ),
    100,
  );

/** 1b: the same with 100 separate job creations (100 POST jobs). */
const freeSlotsThenJobsOneByOne = () =>
  withScheduler(
    (db) => db.transaction((q) => registerSlots(q, slots(100))),
    async (db) => {
      for (let i = 0; i < 100; i++) await db.transaction((q) => insertJobs(q, [newJob(i, 'qemu_x86_64')]));
    },
    100,
  );

/** 2: 100 queued jobs; 100 slots register one after the other (100 runners starting). */
const jobsThenSlots = () =>
  withScheduler(
    (db) =>
      db.transaction((q) =>
        insertJobs(
          q,
          Array.from({ length: 100 }, (_, i) => newJob(i, 'qemu_x86_64')),
        ).then(() => undefined),
      ),
    async (db) => {
      for (const slot of slots(100)) await db.transaction((q) => registerSlots(q, [slot]));
    },
    100,
  );

/** 2b: the same with the 100 slots of a pool registering together (a Worker pool scaled up). */
const jobsThenPool = () =>
  withScheduler(
    (db) =>
      db.transaction((q) =>
        insertJobs(
          q,
          Array.from({ length: 100 }, (_, i) => newJob(i, 'qemu_x86_64')),
        ).then(() => undefined),
      ),
    (db) => db.transaction((q) => registerSlots(q, slots(100))),
    100,
  );

const CLASS_SETS = ['qemu_x86_64', 'qemu_x86_64,tap', 'qemu_x86_64,uefi', 'qemu_aarch64', ''];
const SLOT_CLASS_SETS = [
  ['qemu_x86_64'],
  ['qemu_x86_64', 'tap'],
  ['qemu_x86_64', 'tap', 'uefi'],
  ['qemu_aarch64'],
  ['qemu_x86_64', 'uefi', 'large'],
];

/** 3: 10,000 queued jobs; a pool of 1,000 slots registers → every slot busy. */
const bigQueue = () =>
  withScheduler(
    (db) =>
      db.transaction((q) =>
        insertJobs(
          q,
          Array.from({ length: 10_000 }, (_, i) =>
            newJob(i, CLASS_SETS[i % CLASS_SETS.length]!, 30 + (i % 40)),
          ),
        ).then(() => undefined),
      ),
    (db) =>
      db.transaction((q) =>
        registerSlots(
          q,
          slots(1000, (i) => SLOT_CLASS_SETS[i % SLOT_CLASS_SETS.length]!),
        ),
      ),
    1000,
  );

/** 4: 10 slots drain 30 jobs whose runner reports setup, running, uploading, done at once. */
const drain = () =>
  withScheduler(
    (db) =>
      db.transaction((q) =>
        registerSlots(
          q,
          slots(10, () => []),
        ),
      ),
    (db) =>
      db.transaction((q) =>
        insertJobs(
          q,
          Array.from({ length: 30 }, (_, i) => newJob(i, '')),
        ).then(() => undefined),
      ),
    30,
    (db, jobIds, finished) => {
      setImmediate(async () => {
        for (const id of jobIds) {
          await db.transaction((q) => writeStatus(q, id, 'setup', []));
          await db.transaction((q) => writeStatus(q, id, 'running', []));
          await db.transaction((q) => writeStatus(q, id, 'uploading', []));
          await setDone(db, id, 'passed');
          finished(1);
        }
      });
    },
  );

// --- the queue scenarios ----------------------------------------------------------------------

/**
 * A queue of `count` jobs of class `classes` with a share of dependencies as openQA's job groups
 * have them: in every 40 jobs a chained pair (START_AFTER), a parallel cluster of three
 * (PARALLEL_WITH) and a directly chained pair (START_DIRECTLY_AFTER), 7 of 40 (17.5 %) in all.
 * `dependencyClasses` is the class of the parallel and directly chained jobs.
 */
async function queueJobs(
  database: OpenDatabase,
  count: number,
  classes: string,
  dependencyClasses = classes,
): Promise<void> {
  for (let start = 0; start < count; start += 5000) {
    const jobs: NewJob[] = [];
    const edges: NewEdge[] = [];
    for (let i = start; i < Math.min(count, start + 5000); i++) {
      const at = i % 40;
      const local = i - start;
      const grouped = at >= 2 && at <= 6;
      jobs.push(newJob(i, grouped ? dependencyClasses : classes, 30 + (i % 40), 'queued'));
      if (at === 1 && local >= 1) edges.push({ child: local, parent: local - 1, type: 'chained' });
      if ((at === 3 || at === 4) && local >= at - 2)
        edges.push({ child: local, parent: local - (at - 2), type: 'parallel' });
      if (at === 6 && local >= 1) edges.push({ child: local, parent: local - 1, type: 'directly_chained' });
    }
    await database.transaction((q) => insertJobs(q, jobs, edges).then(() => undefined));
  }
}

function percentile(values: readonly number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!;
}

/** Slots report every 10 s, as executors do (a slot silent for 120 s is stale: its job abandoned). */
function keepAlive(database: OpenDatabase, ids: readonly string[]): () => void {
  const timer = setInterval(() => void heartbeatSlots(database.query, ids).catch(() => undefined), 10_000);
  return () => clearInterval(timer);
}

interface QueueFigures {
  readonly latencies: number[];
  readonly passes: number[];
}

/** Resolves per job id when the scheduler hands it to a slot (also for ids assigned before asked). */
function assignmentWatch() {
  const at = new Map<number, number>();
  const waiting = new Map<number, (t: number) => void>();
  return {
    seen(jobIds: readonly number[]) {
      const t = performance.now();
      for (const id of jobIds) {
        at.set(id, t);
        waiting.get(id)?.(t);
        waiting.delete(id);
      }
    },
    assigned(id: number): Promise<number> {
      const t = at.get(id);
      if (t !== undefined) return Promise.resolve(t);
      return new Promise((resolve) => waiting.set(id, resolve));
    },
  };
}

/**
 * Q1: `QUEUE` queued jobs of a class no slot offers (qemu_s390x; 17.5 % with dependencies), free
 * slots of another class; new jobs for those slots are created one at a time, each in its own
 * transaction (one POST each): the latency from the start of the insert until the scheduler
 * hands the job to a slot, and the duration of every pass meanwhile.
 */
async function unmatchedQueue(figures: QueueFigures): Promise<void> {
  const database = await freshDatabase();
  await queueJobs(database, QUEUE, 'qemu_s390x');
  const free = slots(SAMPLES, () => ['qemu_x86_64'], 'free');
  await database.transaction((q) => registerSlots(q, free));
  const stopBeating = keepAlive(
    database,
    free.map((slot) => slot.id),
  );
  const watch = assignmentWatch();
  let measuring = false;
  const scheduler = await startScheduler({
    database,
    onAssigned: (a) => watch.seen(a.jobIds),
    onPass: (pass) => {
      if (measuring) figures.passes.push(pass.durationMs);
    },
  });
  await scheduler.leading;
  await scheduler.loop.idle();
  measuring = true;
  for (let i = 0; i < SAMPLES; i++) {
    const started = performance.now();
    const [id] = await database.transaction((q) => insertJobs(q, [newJob(i, 'qemu_x86_64', 50, 'new')]));
    figures.latencies.push((await watch.assigned(id!)) - started);
  }
  measuring = false;
  stopBeating();
  await scheduler.stop();
  await database.close();
}

/**
 * Q2: `QUEUE` queued jobs that match (qemu_x86_64; chained pairs among them; the parallel and
 * directly chained jobs of the mix are of a class no slot offers) and 10 slots, all busy. One at
 * a time a slot's job reports setup, running, uploading (not timed), then done: the latency from
 * the start of that final report until the scheduler hands the freed slot its next job.
 */
async function busyQueue(figures: QueueFigures): Promise<void> {
  const database = await freshDatabase();
  await queueJobs(database, QUEUE, 'qemu_x86_64', 'qemu_s390x');
  const busy = slots(10, () => ['qemu_x86_64'], 'busy');
  await database.transaction((q) => registerSlots(q, busy));
  const stopBeating = keepAlive(
    database,
    busy.map((slot) => slot.id),
  );
  let measuring = false;
  let onAssigned: ((slotId: string) => void) | null = null;
  const scheduler = await startScheduler({
    database,
    onAssigned: (a) => onAssigned?.(a.slotId),
    onPass: (pass) => {
      if (measuring) figures.passes.push(pass.durationMs);
    },
  });
  await scheduler.leading;
  await scheduler.loop.idle();
  measuring = true;
  for (let i = 0; i < SAMPLES; i++) {
    const slot = busy[i % busy.length]!;
    const held = await jobsOfSlot(database.query, slot.id);
    // all but the last job of the slot's sequence end unmeasured; the last one frees the slot
    for (const [n, job] of held.entries()) {
      for (const state of ['setup', 'running', 'uploading'])
        await database.transaction((q) => writeStatus(q, job.id, state, []));
      if (n < held.length - 1) await setDone(database, job.id, 'passed');
    }
    await scheduler.loop.idle();
    const assigned = new Promise<number>((resolve) => {
      onAssigned = (slotId) => {
        if (slotId === slot.id) resolve(performance.now());
      };
    });
    const started = performance.now();
    await setDone(database, held.at(-1)!.id, 'passed');
    figures.latencies.push((await assigned) - started);
    onAssigned = null;
  }
  measuring = false;
  stopBeating();
  await scheduler.stop();
  await database.close();
}

async function measureQueue(scenario: (figures: QueueFigures) => Promise<void>): Promise<string[]> {
  const warm: QueueFigures = { latencies: [], passes: [] };
  for (let i = 0; i < WARMUP; i++) await scenario(warm);
  const figures: QueueFigures = { latencies: [], passes: [] };
  for (let i = 0; i < RUNS; i++) await scenario(figures);
  const { latencies, passes } = figures;
  return [
    fmt(percentile(latencies, 50)),
    fmt(percentile(latencies, 95)),
    fmt(percentile(passes, 50)),
    fmt(percentile(passes, 95)),
    `${latencies.length}`,
    (passes.length / latencies.length).toFixed(1),
  ];
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)]!;
}
const fmt = (ms: number) => (ms < 1000 ? `${ms.toFixed(ms < 10 ? 2 : 0)} ms` : `${(ms / 1000).toFixed(2)} s`);

async function measure(fn: () => Promise<number>): Promise<number> {
  await fn(); // warm-up
  const values: number[] = [];
  for (let i = 0; i < RUNS; i++) values.push(await fn());
  return median(values);
}

const header = `kubeqa scheduler through ${FLAVOUR === 'pglite' ? 'PGlite' : 'PostgreSQL 15'}, Node ${process.version}, ${cpus().length} cores`;
const load = () =>
  loadavg()
    .map((l) => l.toFixed(2))
    .join(', ');

if (ONLY !== 'queue') {
  const loadBefore = load();
  const rows: Array<[string, string, string, string]> = [
    [
      '100 free slots + 100 new jobs (one post) → all assigned',
      fmt(await measure(freeSlotsThenJobs)),
      '25.3 s',
      '≤ 0.5 s',
    ],
    ['  (same, 100 separate job creations)', fmt(await measure(freeSlotsThenJobsOneByOne)), '', ''],
    [
      '100 queued jobs, then 100 slots register one by one → all assigned',
      fmt(await measure(jobsThenSlots)),
      '19.9 s',
      '≤ 0.2 s',
    ],
    ['  (same, the 100 slots of a pool register together)', fmt(await measure(jobsThenPool)), '', ''],
    ['10,000 queued jobs, 1,000 slots register → all slots busy', fmt(await measure(bigQueue)), '—', '≤ 2 s'],
    [
      '10 slots draining 30 instant jobs (runner reports through the DB)',
      fmt(await measure(drain)),
      '61.8 s',
      '≤ 1 s',
    ],
  ];
  console.log(`${header}, median of ${RUNS} runs; load average before ${loadBefore}, after ${load()}`);
  console.log('| scenario | kubeqa | openQA 4.6 | target |');
  console.log('|---|---|---|---|');
  for (const row of rows) console.log(`| ${row.join(' | ')} |`);
}

if (ONLY !== 'classic') {
  const queue = QUEUE.toLocaleString('en');
  console.log(`${header}, ${SAMPLES} samples per run × ${RUNS} runs after ${WARMUP} warm-up run(s)`);
  console.log(
    '| scenario | latency p50 | latency p95 | pass p50 | pass p95 | samples | passes per sample | load average |',
  );
  console.log('|---|---|---|---|---|---|---|---|');
  let loadBefore = load();
  const unmatched = await measureQueue(unmatchedQueue);
  console.log(
    `| ${queue} queued jobs no slot can take; a new job for a free slot: created → assigned | ${unmatched.join(' | ')} | ${loadBefore} → ${load()} |`,
  );
  loadBefore = load();
  const busy = await measureQueue(busyQueue);
  console.log(
    `| ${queue} queued jobs that match, every slot busy: a slot frees → its next job assigned | ${busy.join(' | ')} | ${loadBefore} → ${load()} |`,
  );
}
process.exit(0);
