// The local executor with real runner children (`kubeqa worker run-job`) booting the busybox guest
// under TCG, against the real API on real PostgreSQL, its slots registered in the database through
// the registry `kubeqa up` uses (dbSlotRegistry). What the scheduler would do is done by hand: the
// job is put in `assigned` (as a committed assignment leaves it) and onAssigned is called. Waits
// are on the executor's onJobEnded and on the job events, never on a polled list.
// Proves: jobs of an assignment run in order; a job cancelled through the API has its runner and
// QEMU stopped and stays cancelled; a runner killed without reporting leaves its job incomplete
// with "runner died: …"; the token of every ended job is revoked when its runner is gone; slots
// are registered with their classes, heartbeat, and are removed.
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { dbSlotRegistry } from '../../operator/executors/db-slot-registry.js';
import { LocalExecutor } from '../../operator/executors/local.js';
import { defaultSlotCount, localSlots, runnerDiedReason } from '../../operator/executors/local-slots.js';
import { killGroup } from '../../runtime/process-group.js';
import { type Json, startServer, type TestServer } from '../api/server.js';
import { busyboxAssetDir, busyboxSettings, processesIn } from '../helpers/busybox-jobs.js';
import { within } from '../helpers/deadlines.js';
import { assignedJob, isRunning, jobReaches } from '../helpers/jobs.js';
import { waitUntil } from '../helpers/wait-until.js';

let s: TestServer;
const work = mkdtempSync(join(tmpdir(), 'kubeqa-local-exec-'));
const assets = join(work, 'assets');
type Ended = { jobId: number; exit: { code?: number; signal?: string } };
const ended: Ended[] = [];
/** One promise per job, settled by the executor's onJobEnded. */
const endings = new Map<number, { promise: Promise<Ended>; resolve: (e: Ended) => void }>();
function ending(jobId: number) {
  let entry = endings.get(jobId);
  if (!entry) {
    let resolve!: (e: Ended) => void;
    const promise = new Promise<Ended>((r) => {
      resolve = r;
    });
    entry = { promise, resolve };
    endings.set(jobId, entry);
  }
  return entry;
}
let executor: LocalExecutor;

beforeAll(async () => {
  s = await startServer('local_executor');
  await busyboxAssetDir(assets);
  executor = new LocalExecutor({
    database: s.database,
    registry: dbSlotRegistry(s.database),
    apiUrl: s.url,
    workRoot: join(work, 'jobs'),
    assetDir: assets,
    slots: 2,
    classes: ['qemu_x86_64', 'local-test'],
    heartbeatMs: 50,
    graceMs: 20_000,
    onJobEnded: (e) => {
      ended.push(e);
      ending(e.jobId).resolve(e);
    },
  });
  await executor.start();
});
afterAll(async () => {
  await executor?.stop();
  await s.close();
  rmSync(work, { recursive: true, force: true });
});

const busyboxJob = async (test: string, extra: Record<string, string> = {}) =>
  assignedJob(s, { TEST: test, ...(await busyboxSettings()), ...extra });

async function job(id: number): Promise<Json> {
  return (await s.api('GET', `jobs/${id}`)).body.job;
}

/** The executor's end of the job (its onJobEnded), within the deadline of a busybox run under TCG. */
const endedJob = (id: number) => within(ending(id).promise, 240_000, `job ${id} did not end`);
const running = (id: number) => jobReaches(s.database, id, isRunning, 120_000);

/** Whether each job still has a token (its hash in the database). */
async function hasToken(ids: number[]): Promise<boolean[]> {
  const rows = await s.database.query<{ id: string; token_hash: string | null }>(
    'select id, token_hash from jobs where id = any($1::bigint[])',
    [ids],
  );
  return ids.map((id) => rows.some((r) => Number(r.id) === id && r.token_hash !== null));
}

/** The slots as the database has them. */
async function slots() {
  return s.database.query<{ id: string; pool: string; classes: string[]; last_seen: Date }>(
    'select id, pool, classes, last_seen from slots order by id',
  );
}

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
    const registered = await slots();
    expect(registered.map((x) => [x.id, x.pool, x.classes])).toEqual([
      ['local/0', 'local', ['local-test', 'qemu_x86_64']],
      ['local/1', 'local', ['local-test', 'qemu_x86_64']],
    ]);
    // a heartbeat moves last_seen (nothing announces it: checked until it moved)
    const first = registered[0]?.last_seen.getTime() ?? 0;
    expect(await waitUntil(async () => ((await slots())[0]?.last_seen.getTime() ?? 0) > first, 5000)).toBe(
      true,
    );
  });

  it("runs an assignment's jobs one after another, in order", async () => {
    const broken = await busyboxJob('first-broken', { ISO: 'missing.iso' });
    const good = await busyboxJob('second-good');
    executor.onAssigned({ slotId: 'local/0', jobIds: [broken, good] });
    await endedJob(good);
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
    // both runners are gone: their tokens too
    expect(await hasToken([broken, good])).toEqual([false, false]);
  }, 300_000);

  it('stops the runner and QEMU of a job cancelled through the API', async () => {
    const id = await busyboxJob('to-cancel');
    executor.onAssigned({ slotId: 'local/1', jobIds: [id] });
    const dir = join(work, 'jobs', `job-${id}`);
    await running(id);
    expect(processesIn(dir).length).toBeGreaterThan(0); // the runner and QEMU
    expect((await s.api('POST', `jobs/${id}/cancel`)).status).toBe(200);
    const { exit } = await endedJob(id);
    const after = await job(id);
    expect([after.state, after.result]).toEqual(['cancelled', 'user_cancelled']);
    expect(processesIn(dir)).toEqual([]);
    expect(exit?.signal).toBeUndefined(); // it stopped on SIGTERM, cleanly, without SIGKILL
    expect(readFileSync(join(dir, 'autoinst-log.txt'), 'utf8')).toMatch(/result: user_cancelled/);
    expect(await hasToken([id])).toEqual([false]);
  }, 300_000);

  it('ends a job whose runner died without reporting as incomplete (runner died)', async () => {
    const id = await busyboxJob('runner-killed');
    executor.onAssigned({ slotId: 'local/0', jobIds: [id] });
    await running(id);
    const pid = executor.runningJobs().get(id);
    expect(pid).toBeGreaterThan(0);
    killGroup(pid as number, 'SIGKILL');
    await endedJob(id);
    const after = await job(id);
    expect([after.state, after.result]).toEqual(['done', 'incomplete']);
    expect(after.reason).toBe('runner died: killed by SIGKILL');
    expect(await hasToken([id])).toEqual([false]);
    // QEMU went with its parent (pdeathsig)
    expect(await waitUntil(() => processesIn(join(work, 'jobs', `job-${id}`)).length === 0, 10_000)).toBe(
      true,
    );
  }, 300_000);

  it('unregisters its slots when stopped', async () => {
    await executor.stop();
    expect(await slots()).toEqual([]);
  });
});
