// The node cache against the real MinIO: eight processes on one cache directory asking for the
// same asset at once cause exactly one GET at MinIO (counted from MinIO's own metrics); LRU
// eviction under a small limit never touches an asset a job holds; corrupted downloads are
// rejected; a changed object is fetched again; a crashed lock holder blocks nobody.
import { spawn } from 'node:child_process';
import {
  closeSync,
  existsSync,
  mkdtempSync,
  openSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
  writeSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { LocalStore } from '../../runtime/storage/local-store.js';
import { S3Store } from '../../runtime/storage/s3-store.js';
import { AssetCache } from '../../worker-image/cache/cache.js';
import { lock } from '../../worker-image/cache/file-lock.js';
import { StoreSource } from '../../worker-image/cache/sources.js';
import { testEnv } from '../env/index.js';
import { requireCommand } from '../env/system.js';
import {
  bucketRequests,
  freshBucket,
  minioClient,
  randomData,
  s3Config,
  s3Env,
  sha256,
  streamOf,
} from './helpers.js';
import { startWorker } from './processes.js';

const MiB = 1024 * 1024;
const dirs: string[] = [];
function tempDir(label: string): string {
  const dir = mkdtempSync(join(tmpdir(), `kubeqa-cache-${label}-`));
  dirs.push(dir);
  return dir;
}
afterAll(() => {
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

describe('node asset cache', () => {
  it('downloads once for eight processes asking for the same asset at the same moment', {
    timeout: 300_000,
  }, async () => {
    requireCommand('flock', ['util-linux']);
    const info = await testEnv.minio();
    const bucket = await freshBucket(info, 'cache-eight');
    const store = new S3Store(s3Config(info, bucket));
    const data = randomData(96 * MiB, 8);
    await store.put('iso/shared.iso', streamOf(data), { expectedSha256: sha256(data) });
    expect(await bucketRequests(info, bucket, 'GetObject')).toBe(0);

    const cacheDir = tempDir('eight');
    const env = {
      ...s3Env(info, bucket),
      CACHEDIRECTORY: cacheDir,
      CACHELIMIT: '1',
      CACHE_MIN_FREE_PERCENTAGE: '0',
    };
    const workers = Array.from({ length: 8 }, (_, i) =>
      startWorker(
        'test/assets/cache-worker.ts',
        ['iso/shared.iso', join(cacheDir, 'pool', `job${i}`, 'shared.iso')],
        env,
      ),
    );
    for (const w of workers) expect(await w.next()).toBe('ready');
    for (const w of workers) w.child.stdin.write('go\n');
    const outcomes = await Promise.all(
      workers.map(
        async (w) =>
          JSON.parse(await w.next()) as {
            ok: boolean;
            error?: string;
            result: { hit: boolean; waited: boolean; sha256: string; path: string };
          },
      ),
    );
    for (const outcome of outcomes) expect(outcome, outcome.error).toMatchObject({ ok: true });
    expect(outcomes.filter((o) => !o.result.hit)).toHaveLength(1);
    for (const o of outcomes) expect(o.result.sha256).toBe(sha256(data));
    // MinIO itself counted one GET of the object, however many processes asked.
    expect(await bucketRequests(info, bucket, 'GetObject')).toBe(1);
    // Every job got a hard link to the one cached file: nine names, one inode.
    const cached = statSync(join(cacheDir, 'assets', 'iso', 'shared.iso'));
    expect(cached.nlink).toBe(9);
    for (const o of outcomes) expect(statSync(o.result.path).ino).toBe(cached.ino);
  });

  it('evicts the least recently used asset under a small CACHELIMIT, never one a job holds', async () => {
    const info = await testEnv.minio();
    const bucket = await freshBucket(info, 'cache-lru');
    const store = new S3Store(s3Config(info, bucket));
    for (const name of ['a', 'b', 'c', 'd', 'e'])
      await store.put(`hdd/${name}.qcow2`, streamOf(randomData(4 * MiB, name.charCodeAt(0))));
    const dir = tempDir('lru');
    const cache = new AssetCache({
      directory: dir,
      limitBytes: 10 * MiB,
      minFreePercent: 0,
      workers: 2,
      source: new StoreSource(store),
    });
    const job = (name: string, id: string) => join(dir, 'pool', id, `${name}.qcow2`);
    const use = async (name: string, id: string) =>
      cache.acquire({ type: 'hdd', name: `${name}.qcow2`, dest: job(name, id) });
    const finish = (name: string, id: string) => rmSync(job(name, id));
    const cachedNames = () => readdirSync(join(dir, 'assets', 'hdd')).sort();

    await use('a', 'j1');
    finish('a', 'j1');
    await use('b', 'j2');
    finish('b', 'j2');
    expect((await use('a', 'j3')).hit).toBe(true); // a is now more recent than b
    finish('a', 'j3');
    await use('c', 'j4'); // 12 MiB > 10: the least recently used (b) goes
    expect(cachedNames()).toEqual(['a.qcow2', 'c.qcow2']);
    expect(cache.metrics.evictions).toBe(1);

    await use('c', 'running'); // a running job holds c (c is the most recent, a the oldest)
    await use('d', 'j5'); // one must go: a
    expect(cachedNames()).toEqual(['c.qcow2', 'd.qcow2']);
    await use('d', 'j6');
    finish('d', 'j5');
    // Now both cached assets are held by running jobs: e cannot fit, and nothing held is touched.
    await expect(use('e', 'j7')).rejects.toThrow(
      /^cache failure: hdd\/e.qcow2: no room: .*held by running jobs/,
    );
    expect(cachedNames()).toEqual(['c.qcow2', 'd.qcow2']);
    expect(existsSync(job('c', 'running'))).toBe(true);
    // When the job holding d ends, d is the one evicted for e (c is still held).
    finish('d', 'j6');
    await use('e', 'j8');
    expect(cachedNames()).toEqual(['c.qcow2', 'e.qcow2']);
    expect(cache.metrics).toMatchObject({ evictions: 3, misses: 5, hits: 3, failures: 1 });
    expect(cache.metrics.render()).toMatch(/kubeqa_cache_evictions_total 3/);
  });

  it('rejects a corrupted download and fetches a changed object again', async () => {
    const info = await testEnv.minio();
    const bucket = await freshBucket(info, 'cache-corrupt');
    const store = new S3Store(s3Config(info, bucket));
    const good = randomData(5 * MiB, 21);
    const rotten = Buffer.from(good);
    rotten[12345] = (rotten[12345]! + 1) % 256;
    // The object's recorded checksum is of the good data, but the bytes MinIO serves are not.
    await minioClient(info).putObject(bucket, 'assets/iso/rotten.iso', rotten, rotten.length, {
      'kubeqa-sha256': sha256(good),
    });
    const dir = tempDir('corrupt');
    const cache = new AssetCache({
      directory: dir,
      limitBytes: 100 * MiB,
      minFreePercent: 0,
      workers: 1,
      source: new StoreSource(store),
    });
    await expect(
      cache.acquire({ type: 'iso', name: 'rotten.iso', dest: join(dir, 'pool', 'j1', 'rotten.iso') }),
    ).rejects.toThrow(
      new RegExp(
        `^cache failure: iso/rotten.iso: checksum mismatch: expected sha256 ${sha256(good)}, got ${sha256(rotten)}`,
      ),
    );
    expect(readdirSync(join(dir, 'assets', 'iso'))).toEqual([]);
    expect(readdirSync(join(dir, 'tmp'))).toEqual([]);
    expect(existsSync(join(dir, 'pool', 'j1', 'rotten.iso'))).toBe(false);
    // A sha256 the caller expects is checked too, even when the store records none.
    await minioClient(info).putObject(bucket, 'assets/iso/plain.iso', good, good.length);
    await expect(
      cache.acquire({
        type: 'iso',
        name: 'plain.iso',
        dest: join(dir, 'pool', 'j2', 'plain.iso'),
        sha256: sha256(rotten),
      }),
    ).rejects.toThrow(/checksum mismatch/);
    const ok = await cache.acquire({
      type: 'iso',
      name: 'plain.iso',
      dest: join(dir, 'pool', 'j3', 'plain.iso'),
      sha256: sha256(good),
    });
    expect(ok).toMatchObject({ hit: false, sha256: sha256(good) });
    // The object changes in S3 (new ETag): the next request downloads the new content.
    const newer = randomData(5 * MiB, 22);
    await minioClient(info).putObject(bucket, 'assets/iso/plain.iso', newer, newer.length);
    const again = await cache.acquire({
      type: 'iso',
      name: 'plain.iso',
      dest: join(dir, 'pool', 'j4', 'plain.iso'),
    });
    expect(again).toMatchObject({ hit: false, sha256: sha256(newer) });
    expect(await bucketRequests(info, bucket, 'GetObject')).toBe(4);
  });

  it('checks files from before a crash or reboot again before using them', async () => {
    const info = await testEnv.minio();
    const bucket = await freshBucket(info, 'cache-reboot');
    const store = new S3Store(s3Config(info, bucket));
    const data = randomData(2 * MiB, 31);
    await store.put('hdd/base.qcow2', streamOf(data));
    const dir = tempDir('reboot');
    const cache = () =>
      new AssetCache({
        directory: dir,
        limitBytes: 100 * MiB,
        minFreePercent: 0,
        workers: 1,
        source: new StoreSource(store),
      });
    expect((await cache().acquire({ type: 'hdd', name: 'base.qcow2', job: 'j1' })).hit).toBe(false);
    // Pretend the node rebooted: the cached file's facts say it was written in another boot.
    const metaPath = join(dir, 'meta', 'hdd', 'base.qcow2.json');
    const oldBoot = () =>
      writeFileSync(
        metaPath,
        JSON.stringify({ ...JSON.parse(readFileSync(metaPath, 'utf8')), bootId: 'an-earlier-boot' }),
      );
    oldBoot();
    expect((await cache().acquire({ type: 'hdd', name: 'base.qcow2', job: 'j2' })).hit).toBe(true); // intact: hashed, used
    expect(JSON.parse(readFileSync(metaPath, 'utf8')).bootId).not.toBe('an-earlier-boot');
    // Pages lost in a crash: the file no longer matches, so it is fetched again.
    oldBoot();
    const file = join(dir, 'assets', 'hdd', 'base.qcow2');
    const fd = openSync(file, 'r+');
    writeSync(fd, Buffer.alloc(4096), 0, 4096, MiB);
    closeSync(fd);
    const again = await cache().acquire({ type: 'hdd', name: 'base.qcow2', job: 'j3' });
    expect(again).toMatchObject({ hit: false, sha256: sha256(data) });
    expect(sha256(readFileSync(join(dir, 'pool', 'j3', 'base.qcow2')))).toBe(sha256(data));
  });

  it('runs at most CACHEWORKERS downloads at once', async () => {
    const info = await testEnv.minio();
    const bucket = await freshBucket(info, 'cache-workers');
    const store = new S3Store(s3Config(info, bucket));
    const names = ['w1', 'w2', 'w3'];
    for (const name of names)
      await store.put(`iso/${name}.iso`, streamOf(randomData(3 * MiB, name.length + name.charCodeAt(1))));
    const run = async (workers: number) => {
      const dir = tempDir(`workers${workers}`);
      const cache = new AssetCache({
        directory: dir,
        limitBytes: 100 * MiB,
        minFreePercent: 0,
        workers,
        source: new StoreSource(store),
      });
      let active = 0;
      let most = 0;
      const started = new Set<string>();
      let allStarted!: () => void;
      const barrier = new Promise<void>((resolve) => {
        allStarted = resolve;
      });
      await Promise.all(
        names.map((name) =>
          cache.acquire({
            type: 'iso',
            name: `${name}.iso`,
            job: `job-${name}`,
            onProgress: async (bytes, total) => {
              if (!started.has(name)) {
                started.add(name);
                active += 1;
                most = Math.max(most, active);
                // With enough workers, every download is under way before any goes on.
                if (workers >= names.length) {
                  if (started.size === names.length) allStarted();
                  await barrier;
                }
              }
              if (bytes === total) active -= 1;
            },
          }),
        ),
      );
      return most;
    };
    expect(await run(1)).toBe(1);
    expect(await run(3)).toBe(3);
  });

  it('serves the embedded mode from a local-directory store and prunes links of vanished jobs', async () => {
    const storeDir = tempDir('local-store');
    const store = new LocalStore(storeDir);
    const data = randomData(3 * MiB, 41);
    await store.put('iso/local.iso', streamOf(data), { expectedSha256: sha256(data) });
    const dir = tempDir('local-cache');
    const cache = new AssetCache({
      directory: dir,
      limitBytes: 4 * MiB,
      minFreePercent: 0,
      workers: 1,
      source: new StoreSource(store),
    });
    await cache.acquire({ type: 'iso', name: 'local.iso', job: '7' });
    await cache.acquire({ type: 'iso', name: 'local.iso', job: '8' });
    const cached = join(dir, 'assets', 'iso', 'local.iso');
    expect(statSync(cached).nlink).toBe(3);
    // Job 8's pod died without releasing its links; job 7 still runs.
    expect(await cache.prunePool((job) => job === '7')).toEqual(['8']);
    expect(statSync(cached).nlink).toBe(2);
    await cache.releaseJob('7');
    expect(statSync(cached).nlink).toBe(1);
    // Nothing holds it now: a second asset that needs the room evicts it.
    await store.put('iso/next.iso', streamOf(randomData(3 * MiB, 42)));
    await cache.acquire({ type: 'iso', name: 'next.iso', job: '9' });
    expect(existsSync(cached)).toBe(false);
    await expect(cache.acquire({ type: 'iso', name: 'local.iso', job: '../x' })).rejects.toThrow(
      /give a dest path or a job id/,
    );
  });

  it('does not block on a lock whose holder was killed', async () => {
    requireCommand('flock', ['util-linux']);
    const path = join(tempDir('lock'), 'asset.lock');
    const holder = spawn(
      process.execPath,
      [
        '--import',
        'tsx',
        '-e',
        `import('./worker-image/cache/file-lock.ts').then(async (m) => { await m.lock(${JSON.stringify(path)}); console.log('held'); setInterval(() => {}, 1000); })`,
      ],
      { stdio: ['ignore', 'pipe', 'inherit'] },
    );
    await new Promise<void>((resolve, reject) => {
      holder.stdout.on('data', (text: Buffer) => text.toString().includes('held') && resolve());
      holder.once('exit', (code) => reject(new Error(`holder exited ${code}`)));
    });
    const { tryLock } = await import('../../worker-image/cache/file-lock.js');
    expect(await tryLock(path)).toBeUndefined();
    holder.kill('SIGKILL');
    const held = await lock(path);
    expect(held.path).toBe(path);
    await held.release();
  });
});
