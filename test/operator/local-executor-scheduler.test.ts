// The local executor wired to the real scheduler (startScheduler: PostgreSQL store, event-driven
// loop) on real PostgreSQL, with real runner children booting the busybox guest under TCG:
// a job created through the API is assigned to a local slot and passes; a job whose runner dies
// ends incomplete ("runner died: …") and the scheduler re-queues a clone, which then passes.
import { copyFileSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { dbSlotRegistry } from '../../operator/executors/db-slot-registry.js';
import { LocalExecutor } from '../../operator/executors/local.js';
import { type RunningScheduler, startScheduler } from '../../operator/scheduler/run-scheduler.js';
import { killGroup } from '../../runtime/process-group.js';
import { type Json, startServer, type TestServer } from '../api/server.js';
import { testEnv } from '../env/index.js';
import { waitUntil } from '../helpers/wait-until.js';

let s: TestServer;
let scheduler: RunningScheduler;
let executor: LocalExecutor;
const work = mkdtempSync(join(tmpdir(), 'kubeqa-local-sched-'));
const assets = join(work, 'assets');

beforeAll(async () => {
  s = await startServer('local_executor_scheduler');
  const { busybox } = await testEnv.qemu();
  mkdirSync(join(assets, 'other'), { recursive: true });
  copyFileSync(busybox.kernel, join(assets, 'other', 'busybox-linux'));
  copyFileSync(busybox.initrd, join(assets, 'other', 'busybox-initrd.gz'));
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

async function busyboxJob(test: string): Promise<number> {
  const { busybox } = await testEnv.qemu();
  const created = await s.api('POST', 'jobs', {
    TEST: test,
    DISTRI: 'busybox',
    WORKER_CLASS: 'qemu_x86_64',
    KERNEL: 'busybox-linux',
    INITRD: 'busybox-initrd.gz',
    APPEND: busybox.append,
    QEMUCPUS: '2',
    QEMURAM: '256',
    NUMDISKS: '0',
    NOVIDEO: '1',
    TIMEOUT_SCALE: '3',
  });
  expect(created.status).toBe(200);
  return created.body.id as number;
}

async function job(id: number): Promise<Json> {
  return (await s.api('GET', `jobs/${id}`)).body.job;
}

const final = (id: number) =>
  waitUntil(async () => ['done', 'cancelled'].includes((await job(id)).state), 240_000, 200);

describe('local executor with the scheduler', () => {
  it('runs a job the scheduler assigns to a local slot', async () => {
    const id = await busyboxJob('scheduled-busybox');
    expect(await final(id)).toBe(true);
    const done = await job(id);
    expect([done.state, done.result]).toEqual(['done', 'passed']);
    const [row] = await s.database.query<{ slot_id: string }>('select slot_id from jobs where id = $1', [id]);
    expect(row?.slot_id).toBe('local/0');
  }, 300_000);

  it('re-queues a job whose runner died; the clone passes', async () => {
    const id = await busyboxJob('runner-dies');
    expect(await waitUntil(async () => (await job(id)).state === 'running', 120_000, 100)).toBe(true);
    const pid = executor.runningJobs().get(id);
    expect(pid).toBeGreaterThan(0);
    killGroup(pid as number, 'SIGKILL');
    expect(await final(id)).toBe(true);
    const died = await job(id);
    expect([died.state, died.result, died.reason]).toEqual([
      'done',
      'incomplete',
      'runner died: killed by SIGKILL',
    ]);
    expect(await waitUntil(async () => typeof (await job(id)).clone_id === 'number', 30_000, 100)).toBe(true);
    const cloneId = (await job(id)).clone_id as number;
    expect(await final(cloneId)).toBe(true);
    const clone = await job(cloneId);
    expect([clone.state, clone.result]).toEqual(['done', 'passed']);
  }, 300_000);
});
