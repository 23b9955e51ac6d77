// The local executor with real runner children (`kubeqa worker run-job`) booting the busybox guest
// under TCG, against the real API on real PostgreSQL, its slots registered in the scheduler's
// in-memory store. What the scheduler would do is done by hand: the job is put in `assigned`
// (as a committed assignment leaves it) and onAssigned is called.
// Proves: jobs of an assignment run in order; a job cancelled through the API has its runner and
// QEMU stopped and stays cancelled; a runner killed without reporting leaves its job incomplete
// with "runner died: …"; slots are registered with their classes, heartbeat, and are removed.
import {
  copyFileSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  rmSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { changeJobStates } from '../../db/jobs.js';
import { LocalExecutor, type SlotRegistry } from '../../operator/executors/local.js';
import { defaultSlotCount, localSlots, runnerDiedReason } from '../../operator/executors/local-slots.js';
import { systemClock } from '../../operator/scheduler/clock.js';
import { MemoryStore } from '../../operator/scheduler/memory-store.js';
import { killGroup } from '../../runtime/process-group.js';
import { type Json, startServer, type TestServer } from '../api/server.js';
import { testEnv } from '../env/index.js';
import { waitUntil } from '../helpers/wait-until.js';

let s: TestServer;
const work = mkdtempSync(join(tmpdir(), 'kubeqa-local-exec-'));
const assets = join(work, 'assets');
const store = new MemoryStore(systemClock);
const registry: SlotRegistry = {
  register: async (slots) => {
    for (const slot of slots) store.upsertSlot(slot);
  },
  heartbeat: async (ids) => {
    for (const id of ids) store.heartbeat(id);
  },
  remove: async (ids) => {
    for (const id of ids) store.removeSlot(id);
  },
};
const ended: Array<{ jobId: number; exit: { code?: number; signal?: string } }> = [];
let executor: LocalExecutor;

beforeAll(async () => {
  s = await startServer('local_executor');
  const { busybox } = await testEnv.qemu();
  mkdirSync(join(assets, 'other'), { recursive: true });
  copyFileSync(busybox.kernel, join(assets, 'other', 'busybox-linux'));
  copyFileSync(busybox.initrd, join(assets, 'other', 'busybox-initrd.gz'));
  executor = new LocalExecutor({
    database: s.database,
    registry,
    apiUrl: s.url,
    workRoot: join(work, 'jobs'),
    assetDir: assets,
    slots: 2,
    classes: ['qemu_x86_64', 'local-test'],
    heartbeatMs: 50,
    graceMs: 20_000,
    onJobEnded: (e) => ended.push(e),
  });
  await executor.start();
});
afterAll(async () => {
  await executor?.stop();
  await s.close();
  rmSync(work, { recursive: true, force: true });
});

async function busyboxJob(test: string, extra: Record<string, string> = {}): Promise<number> {
  const { busybox } = await testEnv.qemu();
  const created = await s.api('POST', 'jobs', {
    TEST: test,
    DISTRI: 'busybox',
    KERNEL: 'busybox-linux',
    INITRD: 'busybox-initrd.gz',
    APPEND: busybox.append,
    QEMUCPUS: '2',
    QEMURAM: '256',
    NUMDISKS: '0',
    NOVIDEO: '1',
    TIMEOUT_SCALE: '3',
    ...extra,
  });
  const id = created.body.id as number;
  await s.database.transaction((q) => changeJobStates(q, [{ id, state: 'assigned' }], 'scheduler'));
  return id;
}

async function job(id: number): Promise<Json> {
  return (await s.api('GET', `jobs/${id}`)).body.job;
}

/** Processes whose working directory is inside dir (QEMU runs in the job's directory). */
function processesIn(dir: string): number[] {
  const pids: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      if (readlinkSync(`/proc/${entry}/cwd`).startsWith(dir)) pids.push(Number(entry));
    } catch {}
  }
  return pids;
}

const endedJob = (id: number) => waitUntil(() => ended.some((e) => e.jobId === id), 240_000, 100);

describe('local executor: pure parts', () => {
  it('sizes its slots by CPUs and memory, at least one', () => {
    expect(defaultSlotCount({ cpus: 2, memoryBytes: 24 * 1024 ** 3 })).toBe(1);
    expect(defaultSlotCount({ cpus: 16, memoryBytes: 64 * 1024 ** 3 })).toBe(8);
    expect(defaultSlotCount({ cpus: 16, memoryBytes: 4 * 1024 ** 3 })).toBe(2);
    expect(defaultSlotCount({ cpus: 1, memoryBytes: 512 * 1024 ** 2 })).toBe(1);
    expect(localSlots(2, ['b', 'a', 'a', ' '], 5)).toEqual([
      { id: 'local/0', pool: 'local', classes: ['a', 'b'], lastSeen: 5 },
      { id: 'local/1', pool: 'local', classes: ['a', 'b'], lastSeen: 5 },
    ]);
    expect(runnerDiedReason({ code: undefined, signal: 'SIGKILL' })).toBe('runner died: killed by SIGKILL');
    expect(runnerDiedReason({ code: 1, signal: undefined })).toMatch(/^runner died: exit code 1/);
  });
});

describe('local executor', () => {
  it('registers its slots with their classes and keeps them alive', async () => {
    const slots = (await store.load(Date.now())).slots;
    expect(slots.map((x) => [x.id, x.pool, x.classes])).toEqual([
      ['local/0', 'local', ['local-test', 'qemu_x86_64']],
      ['local/1', 'local', ['local-test', 'qemu_x86_64']],
    ]);
    const first = slots[0]?.lastSeen ?? 0;
    expect(
      await waitUntil(async () => ((await store.load(Date.now())).slots[0]?.lastSeen ?? 0) > first, 5000),
    ).toBe(true);
  });

  it("runs an assignment's jobs one after another, in order", async () => {
    const broken = await busyboxJob('first-broken', { ISO: 'missing.iso' });
    const good = await busyboxJob('second-good');
    executor.onAssigned({ slotId: 'local/0', jobIds: [broken, good] });
    expect(await endedJob(good)).toBe(true);
    const a = await job(broken);
    const b = await job(good);
    expect([a.state, a.result]).toEqual(['done', 'incomplete']);
    expect(a.reason).toMatch(/^asset failure: /);
    expect([b.state, b.result]).toEqual(['done', 'passed']);
    expect(ended.map((e) => e.jobId).filter((id) => id === broken || id === good)).toEqual([broken, good]);
    expect(Date.parse(`${b.t_started}Z`)).toBeGreaterThanOrEqual(Date.parse(`${a.t_finished}Z`));
    expect(readFileSync(join(work, 'jobs', `job-${good}`, 'runner.log'), 'utf8')).toMatch(/reported/);
    const serial = await fetch(`${s.url}/api/v1/jobs/${good}/artefacts/serial0.txt`);
    expect(await serial.text()).toContain('typed-42');
  }, 300_000);

  it('stops the runner and QEMU of a job cancelled through the API', async () => {
    const id = await busyboxJob('to-cancel');
    executor.onAssigned({ slotId: 'local/1', jobIds: [id] });
    const dir = join(work, 'jobs', `job-${id}`);
    expect(await waitUntil(async () => (await job(id)).state === 'running', 120_000, 100)).toBe(true);
    expect(processesIn(dir).length).toBeGreaterThan(0); // the runner and QEMU
    expect((await s.api('POST', `jobs/${id}/cancel`)).status).toBe(200);
    expect(await endedJob(id)).toBe(true);
    const after = await job(id);
    expect([after.state, after.result]).toEqual(['cancelled', 'user_cancelled']);
    expect(processesIn(dir)).toEqual([]);
    const exit = ended.find((e) => e.jobId === id)?.exit;
    expect(exit?.signal).toBeUndefined(); // it stopped on SIGTERM, cleanly, without SIGKILL
    expect(readFileSync(join(dir, 'autoinst-log.txt'), 'utf8')).toMatch(/result: user_cancelled/);
  }, 300_000);

  it('ends a job whose runner died without reporting as incomplete (runner died)', async () => {
    const id = await busyboxJob('runner-killed');
    executor.onAssigned({ slotId: 'local/0', jobIds: [id] });
    expect(await waitUntil(async () => (await job(id)).state === 'running', 120_000, 100)).toBe(true);
    const pid = executor.runningJobs().get(id);
    expect(pid).toBeGreaterThan(0);
    killGroup(pid as number, 'SIGKILL');
    expect(await endedJob(id)).toBe(true);
    const after = await job(id);
    expect([after.state, after.result]).toEqual(['done', 'incomplete']);
    expect(after.reason).toBe('runner died: killed by SIGKILL');
    // QEMU went with its parent (pdeathsig)
    expect(await waitUntil(() => processesIn(join(work, 'jobs', `job-${id}`)).length === 0, 10_000)).toBe(
      true,
    );
  }, 300_000);

  it('unregisters its slots when stopped', async () => {
    await executor.stop();
    expect((await store.load(Date.now())).slots).toEqual([]);
  });
});
