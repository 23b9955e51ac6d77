// Assets jobs produce and the store's group cleanup, on real PostgreSQL and MinIO: PUBLISH_HDD_n /
// STORE_HDD_n images uploaded by the runner helper with the job's token (streamed, multipart into
// S3) and registered as ready assets of the job (so of its group); names the settings do not
// publish and wrong tokens are refused. Cleanup keeps each group under its limit by recency,
// never deletes assets of pending jobs or fixed ones, deletes orphaned files; it runs by itself
// when a job finishes, the orphan sweep at start and on a timer.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { findAsset, recordAssetState } from '../../db/assets.js';
import { changeJobStates, insertJobs } from '../../db/jobs.js';
import { issueJobToken } from '../../db/results.js';
import { S3Store } from '../../runtime/storage/s3-store.js';
import { AssetCleanup, cleanupAssets } from '../../webui/assets/cleanup.js';
import { publishOutputs } from '../../worker-image/runner/publish-assets.js';
import { startServer, type TestServer } from '../api/server.js';
import { testEnv } from '../env/index.js';
import { waitUntil } from '../helpers/wait-until.js';
import { freshBucket, minioClient, randomData, readAll, s3Config, sha256, streamOf } from './helpers.js';

const MiB = 1024 * 1024;
const dir = mkdtempSync(join(tmpdir(), 'kubeqa-outputs-'));
let server: TestServer;
let store: S3Store;
let bucket: string;

beforeAll(async () => {
  const info = await testEnv.minio();
  bucket = await freshBucket(info, 'outputs');
  store = new S3Store({ ...s3Config(info, bucket), partSize: 5 * MiB });
  server = await startServer('asset_outputs', 'postgres', { assets: { store, cleanup: false } });
});

afterAll(async () => {
  await server?.close();
  rmSync(dir, { recursive: true, force: true });
});

async function group(name: string, sizeLimitGb: number | null = null): Promise<number> {
  const [row] = await server.database.query<{ id: number }>(
    'insert into job_groups (name, size_limit_gb) values ($1, $2) returning id',
    [name, sizeLimitGb],
  );
  return Number(row?.id);
}

async function job(
  groupId: number | null,
  settings: Record<string, string>,
  assets: { type: string; name: string }[] = [],
): Promise<number> {
  const [id] = await insertJobs(server.database.query, [
    {
      test: settings.TEST ?? 't',
      distri: '',
      version: '',
      flavor: '',
      arch: '',
      build: '',
      machine: '',
      groupId,
      priority: 50,
      scheduledProductId: null,
      settings: Object.fromEntries(Object.entries(settings).map(([k, v]) => [k, [v]])),
      assets,
    },
  ]);
  return id as number;
}

/** Walk jobs through the life cycle to done/passed, as a runner would. */
async function finish(ids: number[]): Promise<void> {
  for (const state of ['assigned', 'setup', 'running'])
    await changeJobStates(
      server.database.query,
      ids.map((id) => ({ id, state })),
    );
  await changeJobStates(
    server.database.query,
    ids.map((id) => ({ id, state: 'done', result: 'passed' })),
  );
}

describe('assets a job produces', () => {
  it('are uploaded with the job token, stored (multipart) and registered as the job’s', {
    timeout: 120_000,
  }, async () => {
    const g = await group('producers');
    const id = await job(g, {
      TEST: 'create_hdd',
      HDD_1: 'base.qcow2',
      PUBLISH_HDD_1: 'gnome.qcow2',
      STORE_HDD_1: 'state.qcow2',
    });
    const token = await issueJobToken(server.database.query, id);
    const disk = randomData(12 * MiB, 41);
    const diskPath = join(dir, 'hdd1.qcow2');
    writeFileSync(diskPath, disk);

    const published = await publishOutputs({
      apiUrl: server.url,
      jobId: id,
      token,
      settings: { HDD_1: 'base.qcow2', PUBLISH_HDD_1: 'gnome.qcow2', STORE_HDD_1: 'state.qcow2' },
      passed: true,
      diskOf: (from) => (from === 'HDD_1' ? diskPath : undefined),
    });
    const privateName = `${String(id).padStart(8, '0')}-state.qcow2`;
    expect(published.map((p) => p.name).sort()).toEqual(['gnome.qcow2', privateName].sort());
    for (const name of ['gnome.qcow2', privateName]) {
      expect(sha256(await readAll(await store.get(`hdd/${name}`)))).toBe(sha256(disk));
      expect(await findAsset(server.database.query, 'hdd', name)).toMatchObject({
        state: 'ready',
        size: disk.length,
        checksum: sha256(disk),
        last_use_job_id: id,
      });
    }
    const links = await server.database.query<{ name: string; created_by: boolean }>(
      `select a.name, ja.created_by from jobs_assets ja join assets a on a.id = ja.asset_id
        where ja.job_id = $1 and ja.created_by order by a.name`,
      [id],
    );
    expect(links.map((l) => l.name).sort()).toEqual(['gnome.qcow2', privateName].sort());

    // A name the settings do not publish, and a wrong token, are refused; nothing is stored.
    const url = `${server.url}/api/v1/jobs/${id}/assets/hdd/other.qcow2`;
    const headers = { 'content-type': 'application/octet-stream', 'x-kubeqa-job-token': token };
    const notPublished = await fetch(url, { method: 'PUT', headers, body: 'x' });
    expect(notPublished.status).toBe(403);
    expect(await notPublished.text()).toContain('does not publish');
    const wrongToken = await fetch(`${server.url}/api/v1/jobs/${id}/assets/hdd/gnome.qcow2`, {
      method: 'PUT',
      headers: { ...headers, 'x-kubeqa-job-token': 'nope' },
      body: 'x',
    });
    expect(wrongToken.status).toBe(403);
    await wrongToken.arrayBuffer();
    expect(await store.stat('hdd/other.qcow2')).toBeUndefined();
    expect(sha256(await readAll(await store.get('hdd/gnome.qcow2')))).toBe(sha256(disk));

    // A failed job publishes nothing (without FORCE_PUBLISH_HDD_n).
    expect(
      await publishOutputs({
        apiUrl: server.url,
        jobId: id,
        token,
        settings: { PUBLISH_HDD_1: 'gnome.qcow2' },
        passed: false,
        diskOf: () => diskPath,
      }),
    ).toEqual([]);
  });
});

describe('group cleanup', () => {
  async function storedAsset(type: string, name: string, size: number): Promise<void> {
    await store.put(`${type}/${name}`, streamOf(randomData(size, name.length)));
    await recordAssetState(server.database.query, { type, name, state: 'ready', size });
  }

  it('keeps each group under its limit by recency, never touching pending or fixed assets; deletes orphans', {
    timeout: 120_000,
  }, async () => {
    const g = await group('cleanup-a');
    for (const name of ['a0.qcow2', 'a1.qcow2', 'a2.qcow2', 'a3.qcow2', 'fixed.qcow2'])
      await storedAsset('hdd', name, 2 * MiB);
    await server.database.query("update assets set fixed = true where name = 'fixed.qcow2'");
    // Oldest to newest use: a0 (its job is still scheduled), a1, a2, a3 (finished jobs).
    const pendingJob = await job(g, { HDD_1: 'a0.qcow2' }, [{ type: 'hdd', name: 'a0.qcow2' }]);
    const ids: number[] = [];
    for (const name of ['a1.qcow2', 'a2.qcow2', 'a3.qcow2', 'fixed.qcow2'])
      ids.push(await job(g, { HDD_1: name }, [{ type: 'hdd', name }]));
    await finish(ids);
    await server.database.query(
      `update jobs set t_created = now() - make_interval(mins => 100 - (id - $1)::int) where id >= $1`,
      [pendingJob],
    );
    // A file no row names, and an object outside the grace period check (grace 0 here).
    await store.put('iso/stray.iso', streamOf(randomData(MiB, 5)));

    const report = await cleanupAssets({
      database: server.database,
      store,
      defaultGroupLimitBytes: 5 * MiB,
      orphanGraceMs: 0,
    });
    // Kept: fixed (2) and pending a0 (2) count first, then a3 would make 6 > 5: strictly by recency nothing else.
    expect(report.deleted.map((d) => d.key).sort()).toEqual(['hdd/a1.qcow2', 'hdd/a2.qcow2', 'hdd/a3.qcow2']);
    expect(report.deleted[0]?.reason).toContain('over the size limit of job group(s)');
    expect(report.orphans).toContain('iso/stray.iso');
    for (const name of ['a1.qcow2', 'a2.qcow2', 'a3.qcow2']) {
      expect(await store.stat(`hdd/${name}`)).toBeUndefined();
      expect(await findAsset(server.database.query, 'hdd', name)).toBeUndefined();
    }
    for (const name of ['a0.qcow2', 'fixed.qcow2']) {
      expect(await store.stat(`hdd/${name}`)).toBeDefined();
      expect((await findAsset(server.database.query, 'hdd', name))?.state).toBe('ready');
    }
    expect(await store.stat('iso/stray.iso')).toBeUndefined();
    const left: string[] = [];
    for await (const item of minioClient(await testEnv.minio()).listIncompleteUploads(bucket, '', true))
      left.push(item.key);
    expect(left).toEqual([]);
  });

  it('cleans groups by itself when a job finishes, and sweeps orphans only at start and on its timer', {
    timeout: 60_000,
  }, async () => {
    const g = await group('cleanup-b');
    await storedAsset('hdd', 'b-old.qcow2', 2 * MiB);
    await storedAsset('hdd', 'b-new.qcow2', 2 * MiB);
    const oldJob = await job(g, { HDD_1: 'b-old.qcow2' }, [{ type: 'hdd', name: 'b-old.qcow2' }]);
    const newJob = await job(g, { HDD_1: 'b-new.qcow2' }, [{ type: 'hdd', name: 'b-new.qcow2' }]);
    await server.database.query("update jobs set t_created = now() - interval '1 hour' where id = $1", [
      oldJob,
    ]);
    await server.database.query(`update job_groups set size_limit_gb = 0 where id = $1`, [g]);
    await store.put('iso/stray-before.iso', streamOf(randomData(MiB, 6)));
    const cleanup = new AssetCleanup({ database: server.database, store, orphanGraceMs: 0 });
    await cleanup.start();
    try {
      // at start: one group cleanup (both jobs still scheduled: nothing goes) and one sweep
      await cleanup.idle();
      expect([cleanup.groupRuns, cleanup.sweeps]).toEqual([1, 1]);
      expect(await store.stat('iso/stray-before.iso')).toBeUndefined();
      expect(await store.stat('hdd/b-old.qcow2')).toBeDefined();
      await store.put('iso/stray-after.iso', streamOf(randomData(MiB, 7)));
      // The old job finishes: its asset goes (limit 0); the other one's job is still scheduled.
      await finish([oldJob]);
      expect(await waitUntil(() => cleanup.groupRuns >= 2, 30_000)).toBe(true);
      await cleanup.idle();
      expect(await store.stat('hdd/b-old.qcow2')).toBeUndefined();
      expect(await store.stat('hdd/b-new.qcow2')).toBeDefined();
      // a finished job does not list the whole store: the orphan is still there
      expect(cleanup.sweeps).toBe(1);
      expect(await store.stat('iso/stray-after.iso')).toBeDefined();
      await finish([newJob]);
      expect(await waitUntil(async () => (await store.stat('hdd/b-new.qcow2')) === undefined, 30_000)).toBe(
        true,
      );
      expect(cleanup.sweeps).toBe(1);
    } finally {
      await cleanup.stop();
    }
    // the timer sweeps
    const timed = new AssetCleanup({
      database: server.database,
      store,
      orphanGraceMs: 0,
      orphanSweepIntervalMs: 200,
    });
    await timed.start();
    try {
      expect(await waitUntil(() => timed.sweeps >= 2, 30_000)).toBe(true);
      await timed.idle();
      expect(await store.stat('iso/stray-after.iso')).toBeUndefined();
      expect(timed.groupRuns).toBe(1);
    } finally {
      await timed.stop();
    }
  });
});
