// Scheduler benchmarks through the database: the PostgreSQL store (PgSchedulerStore), the loop and
// leadership (startScheduler) on real PostgreSQL from the test harness, or on the embedded PGlite.
// Jobs and slots are written the way the API and the executors write them (one transaction each
// where openQA's clients would make one request each), wake-ups travel through NOTIFY, and runners
// report through the same functions as the runner routes. Timed from the first write until every
// job is assigned (or, for the drain, finished).
// Run: npx tsx bench/scheduler/db.ts [--runs N] [--flavour postgres|pglite]
import { cpus } from 'node:os';
import { type OpenDatabase, openPglite, openPostgres } from '../../db/connect.js';
import { setDone } from '../../db/job-actions.js';
import { insertJobs, type NewJob } from '../../db/jobs.js';
import { migrate } from '../../db/migrate.js';
import { writeStatus } from '../../db/results.js';
import { registerSlots } from '../../db/slots.js';
import { startScheduler } from '../../operator/scheduler/run-scheduler.js';
import { createDatabase, testEnv } from '../../test/env/index.js';

const arg = (name: string) => {
  const at = process.argv.indexOf(name);
  return at > 0 ? process.argv[at + 1] : undefined;
};
const RUNS = Number(arg('--runs') ?? 5);
const FLAVOUR = arg('--flavour') ?? 'postgres';

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

function newJob(i: number, classes: string, priority = 50): NewJob {
  return {
    test: `job-${i}`,
    distri: 'bench',
    version: '1',
    flavor: 'dvd',
    arch: 'x86_64',
    build: '1',
    machine: '64bit',
    groupId: null,
    priority,
    scheduledProductId: null,
    settings: { TEST: [`job-${i}`], WORKER_CLASS: [classes] },
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
console.log(
  `kubeqa scheduler through ${FLAVOUR === 'pglite' ? 'PGlite' : 'PostgreSQL 15'}, Node ${process.version}, ${cpus().length} cores, median of ${RUNS} runs`,
);
console.log('| scenario | kubeqa | openQA 4.6 | target |');
console.log('|---|---|---|---|');
for (const row of rows) console.log(`| ${row.join(' | ')} |`);
process.exit(0);
