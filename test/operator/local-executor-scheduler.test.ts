// The local executor wired to the real scheduler (startScheduler: PostgreSQL store, event-driven
// loop) on real PostgreSQL, with real runner children booting the busybox guest under TCG:
// a job created through the API is assigned to a local slot and passes; a job whose runner dies
// ends incomplete ("runner died: …") and the scheduler re-queues a clone, which then passes.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { dbSlotRegistry } from '../../operator/executors/db-slot-registry.js';
import { LocalExecutor } from '../../operator/executors/local.js';
import { type RunningScheduler, startScheduler } from '../../operator/scheduler/run-scheduler.js';
import { killGroup } from '../../runtime/process-group.js';
import { type Json, startServer, type TestServer } from '../api/server.js';
import { busyboxAssetDir, busyboxSettings } from '../helpers/busybox-jobs.js';
import { createJob, isFinal, isRunning, jobReaches } from '../helpers/jobs.js';
import { waitUntil } from '../helpers/wait-until.js';

let s: TestServer;
let scheduler: RunningScheduler;
let executor: LocalExecutor;
const work = mkdtempSync(join(tmpdir(), 'kubeqa-local-sched-'));
const assets = join(work, 'assets');

beforeAll(async () => {
  s = await startServer('local_executor_scheduler');
  await busyboxAssetDir(assets);
  executor = new LocalExecutor({
    database: s.database,
    registry: dbSlotRegistry(s.database),
    apiUrl: s.url,
    workRoot: join(work, 'jobs'),
    assetDir: assets,
    slots: 1,
    classes: ['qemu_x86_64'],
  });
  scheduler = await startScheduler({
    database: s.database,
    onAssigned: executor.onAssigned,
    onStopped: executor.onStopped,
  });
  await scheduler.leading;
  await executor.start();
});
afterAll(async () => {
  await executor?.stop();
  await scheduler?.stop();
  await s.close();
  rmSync(work, { recursive: true, force: true });
});

const busyboxJob = async (test: string) =>
  createJob(s, { TEST: test, WORKER_CLASS: 'qemu_x86_64', ...(await busyboxSettings()) });

async function job(id: number): Promise<Json> {
  return (await s.api('GET', `jobs/${id}`)).body.job;
}

/** The job's final state, from the job events (a busybox run under TCG). */
const final = (id: number) => jobReaches(s.database, id, isFinal, 240_000);

describe('local executor with the scheduler', () => {
  it('runs a job the scheduler assigns to a local slot', async () => {
    const id = await busyboxJob('scheduled-busybox');
    await final(id);
    const done = await job(id);
    expect([done.state, done.result]).toEqual(['done', 'passed']);
    const [row] = await s.database.query<{ slot_id: string }>('select slot_id from jobs where id = $1', [id]);
    expect(row?.slot_id).toBe('local/0');
  }, 300_000);

  it('re-queues a job whose runner died; the clone passes', async () => {
    const id = await busyboxJob('runner-dies');
    await jobReaches(s.database, id, isRunning, 120_000);
    const pid = executor.runningJobs().get(id);
    expect(pid).toBeGreaterThan(0);
    killGroup(pid as number, 'SIGKILL');
    await final(id);
    const died = await job(id);
    expect([died.state, died.result, died.reason]).toEqual([
      'done',
      'incomplete',
      'runner died: killed by SIGKILL',
    ]);
    expect(await waitUntil(async () => typeof (await job(id)).clone_id === 'number', 30_000, 100)).toBe(true);
    const cloneId = (await job(id)).clone_id as number;
    await final(cloneId);
    const clone = await job(cloneId);
    expect([clone.state, clone.result]).toEqual(['done', 'passed']);
  }, 300_000);
});
