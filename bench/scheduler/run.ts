// Scheduler benchmarks: the decision and the event-driven loop with the in-memory store and the
// real clock. Run: npx tsx bench/scheduler/run.ts [--runs N]
// The PostgreSQL-backed figures come with the PostgreSQL store (see docs/benchmarks.md).
import { cpus } from 'node:os';
import { systemClock } from '../../operator/scheduler/clock.js';
import { decide } from '../../operator/scheduler/decide.js';
import { SchedulerLoop } from '../../operator/scheduler/loop.js';
import { MemoryStore } from '../../operator/scheduler/memory-store.js';
import {
  DEFAULT_SCHEDULER_CONFIG,
  NEVER_RUN,
  type SchedulerJob,
  type Slot,
} from '../../operator/scheduler/types.js';

const runsArg = process.argv.indexOf('--runs');
const RUNS = runsArg > 0 ? Number(process.argv[runsArg + 1]) : 5;

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)]!;
}

function fmt(ms: number): string {
  return ms < 1000 ? `${ms.toFixed(ms < 10 ? 2 : 1)} ms` : `${(ms / 1000).toFixed(2)} s`;
}

function setup(onAssigned?: (jobIds: readonly number[]) => void) {
  const store = new MemoryStore(systemClock);
  const loop = new SchedulerLoop({
    store,
    clock: systemClock,
    onAssigned: onAssigned ? (a) => onAssigned(a.jobIds) : undefined,
  });
  return { store, loop };
}

function allAssigned(count: number): { promise: Promise<void>; seen: (ids: readonly number[]) => void } {
  let left = count;
  let resolve: () => void = () => {};
  const promise = new Promise<void>((r) => {
    resolve = r;
  });
  return {
    promise,
    seen: (ids) => {
      left -= ids.length;
      if (left <= 0) resolve();
    },
  };
}

/** 1: 100 free slots, then 100 jobs are created one after the other. */
async function freeSlotsThenJobs(): Promise<number> {
  const waiter = allAssigned(100);
  const { store, loop } = setup(waiter.seen);
  for (let i = 0; i < 100; i++) store.upsertSlot({ id: `slot-${i}`, classes: ['qemu_x86_64'] });
  loop.start();
  await loop.idle();
  const started = performance.now();
  for (let i = 0; i < 100; i++)
    store.createJob({ test: `job-${i}`, settings: { WORKER_CLASS: 'qemu_x86_64' } });
  await waiter.promise;
  const elapsed = performance.now() - started;
  await loop.stop();
  return elapsed;
}

/** 1b: the same, but each job arrives on its own turn of the event loop (no coalescing). */
async function freeSlotsThenJobsOneByOne(): Promise<number> {
  const waiter = allAssigned(100);
  const { store, loop } = setup(waiter.seen);
  for (let i = 0; i < 100; i++) store.upsertSlot({ id: `slot-${i}`, classes: ['qemu_x86_64'] });
  loop.start();
  await loop.idle();
  const started = performance.now();
  for (let i = 0; i < 100; i++) {
    store.createJob({ test: `job-${i}`, settings: { WORKER_CLASS: 'qemu_x86_64' } });
    await loop.idle();
  }
  await waiter.promise;
  const elapsed = performance.now() - started;
  await loop.stop();
  return elapsed;
}

/** 2: 100 jobs queued, then 100 slots register. */
async function jobsThenSlots(): Promise<number> {
  const waiter = allAssigned(100);
  const { store, loop } = setup(waiter.seen);
  for (let i = 0; i < 100; i++)
    store.createJob({ test: `job-${i}`, settings: { WORKER_CLASS: 'qemu_x86_64' } });
  loop.start();
  await loop.idle();
  const started = performance.now();
  for (let i = 0; i < 100; i++) store.upsertSlot({ id: `slot-${i}`, classes: ['qemu_x86_64'] });
  await waiter.promise;
  const elapsed = performance.now() - started;
  await loop.stop();
  return elapsed;
}

const CLASS_SETS = [['qemu_x86_64'], ['qemu_x86_64', 'tap'], ['qemu_x86_64', 'uefi'], ['qemu_aarch64'], []];
const SLOT_CLASS_SETS = [
  ['qemu_x86_64'],
  ['qemu_x86_64', 'tap'],
  ['qemu_x86_64', 'tap', 'uefi'],
  ['qemu_aarch64'],
  ['qemu_x86_64', 'uefi', 'large'],
];

/** 3a: one decision over 10,000 queued jobs and 1,000 free slots (pure function only). */
function bigDecision(): { ms: number; assigned: number } {
  const now = Date.now();
  const jobs: SchedulerJob[] = [];
  for (let i = 1; i <= 10_000; i++) {
    jobs.push({
      id: i,
      state: 'scheduled',
      result: 'none',
      clonedAs: null,
      cancelWholeCluster: true,
      priority: 30 + (i % 40),
      createdAt: now - i,
      test: `job-${i}`,
      workerClasses: CLASS_SETS[i % CLASS_SETS.length]!,
      maxSetupSeconds: 3600,
      maxJobSeconds: 7200,
      timeoutScale: 1,
      retry: 0,
      ...NEVER_RUN,
    });
  }
  const slots: Slot[] = [];
  for (let i = 0; i < 1000; i++)
    slots.push({
      id: `slot-${i}`,
      pool: 'p',
      classes: SLOT_CLASS_SETS[i % SLOT_CLASS_SETS.length]!,
      lastSeen: now,
    });
  const started = performance.now();
  const decision = decide({
    now,
    jobs,
    edges: [],
    slots,
    finished: [],
    priorityOffsets: new Map(),
    config: DEFAULT_SCHEDULER_CONFIG,
  });
  const ms = performance.now() - started;
  return { ms, assigned: decision.assignments.length };
}

/** 3b: the loop: 10,000 queued jobs, 1,000 slots register; time until every slot has a job. */
async function bigLoop(): Promise<number> {
  const waiter = allAssigned(1000);
  const { store, loop } = setup(waiter.seen);
  for (let i = 0; i < 10_000; i++)
    store.createJob(
      {
        test: `job-${i}`,
        priority: 30 + (i % 40),
        settings: { WORKER_CLASS: CLASS_SETS[i % CLASS_SETS.length]!.join(',') },
      },
      false,
    );
  loop.start();
  await loop.idle();
  const started = performance.now();
  for (let i = 0; i < 1000; i++)
    store.upsertSlot({ id: `slot-${i}`, classes: SLOT_CLASS_SETS[i % SLOT_CLASS_SETS.length]! });
  await waiter.promise;
  const elapsed = performance.now() - started;
  await loop.stop();
  return elapsed;
}

/** 4: 10 slots drain 30 jobs that finish as soon as they start (a fake runner reports at once). */
async function drain(): Promise<number> {
  let done = 0;
  let finish: () => void = () => {};
  const finished = new Promise<void>((r) => {
    finish = r;
  });
  const store = new MemoryStore(systemClock);
  const loop = new SchedulerLoop({
    store,
    clock: systemClock,
    onAssigned: (assignment) =>
      setImmediate(() => {
        for (const id of assignment.jobIds) {
          store.report(id, 'setup');
          store.report(id, 'running');
          store.report(id, 'uploading');
          store.report(id, 'done', 'passed');
          done += 1;
          if (done === 30) finish();
        }
      }),
  });
  for (let i = 0; i < 10; i++) store.upsertSlot({ id: `slot-${i}` });
  loop.start();
  await loop.idle();
  const started = performance.now();
  for (let i = 0; i < 30; i++) store.createJob({ test: `job-${i}` });
  await finished;
  const elapsed = performance.now() - started;
  await loop.stop();
  return elapsed;
}

async function measure(fn: () => Promise<number> | number): Promise<number> {
  const values: number[] = [];
  await fn(); // warm-up
  for (let i = 0; i < RUNS; i++) values.push(await fn());
  return median(values);
}

const rows: Array<[string, string, string, string]> = [];
rows.push([
  '100 free slots + 100 new jobs → all assigned',
  fmt(await measure(freeSlotsThenJobs)),
  '25.3 s',
  '≤ 0.5 s',
]);
rows.push([
  '  (same, each job on its own event-loop turn)',
  fmt(await measure(freeSlotsThenJobsOneByOne)),
  '',
  '',
]);
rows.push([
  '100 queued jobs, then 100 slots appear → all assigned',
  fmt(await measure(jobsThenSlots)),
  '19.9 s',
  '≤ 0.2 s',
]);
let assignedBig = 0;
const decisionMs = await measure(() => {
  const result = bigDecision();
  assignedBig = result.assigned;
  return result.ms;
});
rows.push([
  `10,000 queued jobs × 1,000 slots: one decision (${assignedBig} assigned)`,
  fmt(decisionMs),
  '—',
  '≤ 2 s',
]);
rows.push([
  '10,000 queued jobs, 1,000 slots appear → all slots busy (loop)',
  fmt(await measure(bigLoop)),
  '—',
  '≤ 2 s',
]);
rows.push(['10 slots draining 30 instant jobs', fmt(await measure(drain)), '61.8 s', '≤ 1 s']);

console.log(
  `kubeqa scheduler, in-memory store, Node ${process.version}, ${cpus().length} cores, median of ${RUNS} runs`,
);
console.log('| scenario | kubeqa | openQA 4.6 | target |');
console.log('|---|---|---|---|');
for (const row of rows) console.log(`| ${row.join(' | ')} |`);
