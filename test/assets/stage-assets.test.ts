// Jobs waiting in `setup` for their assets (worker-image/runner/stage-assets.ts) against the real
// server on real PostgreSQL, with a real local HTTP source whose answer the test holds back: the
// job's ISO_URL import is running, so staging reports the waiting reason, and finishes (woken by
// the server's state change) with the file once the import is done. Every supply is exercised:
// the embedded local store, the node cache in remote mode (web API over HTTP with an API key, no
// S3 credentials) and the pod's cache sidecar over its unix socket. A failed import fails staging
// with its reason.
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LocalStore } from '../../runtime/storage/local-store.js';
import { AssetCache } from '../../worker-image/cache/cache.js';
import { cacheServer, listenCache } from '../../worker-image/cache/daemon.js';
import { RemoteSource } from '../../worker-image/cache/sources.js';
import { apiAssetStates, stageAssets } from '../../worker-image/runner/stage-assets.js';
import { startServer, type TestServer } from '../api/server.js';
import { type HttpSource, startHttpSource } from '../helpers/http-source.js';
import { randomData, sha256 } from './helpers.js';

const MiB = 1024 * 1024;
const dir = mkdtempSync(join(tmpdir(), 'kubeqa-stage-'));
let server: TestServer;
let store: LocalStore;
let source: HttpSource;

beforeAll(async () => {
  source = await startHttpSource();
  store = new LocalStore(join(dir, 'store'));
  server = await startServer('asset_stage', 'postgres', {
    assets: { store, downloadDomains: ['127.0.0.1'] },
  });
});

afterAll(async () => {
  await server?.close();
  await source?.close();
  rmSync(dir, { recursive: true, force: true });
});

/** A job whose ISO comes from a held-back download; returns its settings and the release. */
async function jobWithSlowIso(name: string, data: Buffer) {
  source.serve(`/iso/${name}`, data);
  const release = source.hold(`/iso/${name}`);
  const created = await server.api('POST', 'jobs', { TEST: 'install', ISO_URL: `${source.url}/iso/${name}` });
  expect(created.status).toBe(200);
  const job = await server.api('GET', `jobs/${created.body.id}`);
  return {
    id: created.body.id as number,
    settings: job.body.job.settings as Record<string, string>,
    release,
  };
}

describe('staging a job’s assets in setup', () => {
  it('waits with a visible reason while the ISO imports, then hands out the stored file (embedded)', {
    timeout: 60_000,
  }, async () => {
    const data = randomData(3 * MiB, 31);
    const { id, settings, release } = await jobWithSlowIso('embedded.iso', data);
    const reasons: string[] = [];
    const staged = await stageAssets({
      job: id,
      settings: { ...settings, HDD_1: '/absolute/path/is/not/an/asset.qcow2' },
      supply: { kind: 'local', store },
      states: apiAssetStates({ apiUrl: server.url }),
      onWaiting: (reason) => {
        reasons.push(reason);
        release();
      },
    });
    expect(reasons[0]).toMatch(/^waiting for assets: iso\/embedded\.iso: importing/);
    expect(staged).toHaveLength(1);
    expect(staged[0]).toMatchObject({ setting: 'ISO', type: 'iso', name: 'embedded.iso' });
    expect(sha256(readFileSync(staged[0]?.path as string))).toBe(sha256(data));
  });

  it('fetches through the node cache from the web API with an API key (remote mode)', {
    timeout: 60_000,
  }, async () => {
    const data = randomData(2 * MiB, 32);
    const { id, settings, release } = await jobWithSlowIso('remote.iso', data);
    const cache = new AssetCache({
      directory: join(dir, 'remote-cache'),
      limitBytes: 100 * MiB,
      minFreePercent: 0,
      workers: 2,
      source: new RemoteSource({ baseUrl: server.url, apiKey: server.key, apiSecret: server.secret }),
    });
    const reasons: string[] = [];
    const staged = await stageAssets({
      job: id,
      settings,
      supply: { kind: 'cache', cache },
      states: apiAssetStates({ apiUrl: server.url, apiKey: server.key, apiSecret: server.secret }),
      onWaiting: (reason) => {
        reasons.push(reason);
        release();
      },
    });
    expect(reasons.length).toBeGreaterThan(0);
    const path = staged[0]?.path as string;
    expect(path.startsWith(join(dir, 'remote-cache', 'pool', String(id)))).toBe(true);
    expect(sha256(readFileSync(path))).toBe(sha256(data));
    expect(statSync(path).nlink).toBe(2); // a hard link to the cached file, not a copy
  });

  it('fetches through the pod’s cache sidecar over its unix socket', { timeout: 60_000 }, async () => {
    const data = randomData(MiB, 33);
    source.serve('/iso/sidecar.iso', data);
    const registered = await server.api('POST', 'assets', {
      type: 'iso',
      url: `${source.url}/iso/sidecar.iso`,
    });
    expect(registered.status).toBe(202);
    const cache = new AssetCache({
      directory: join(dir, 'sidecar-cache'),
      limitBytes: 100 * MiB,
      minFreePercent: 0,
      workers: 2,
      source: new RemoteSource({ baseUrl: server.url, apiKey: server.key, apiSecret: server.secret }),
    });
    const app = cacheServer(cache);
    const socket = join(dir, 'cache.sock');
    await listenCache(app, { socket });
    try {
      const staged = await stageAssets({
        job: 'job-77',
        settings: { ISO: 'sidecar.iso' },
        supply: { kind: 'sidecar', endpoint: { socket } },
        states: apiAssetStates({ apiUrl: server.url }),
      });
      expect(staged[0]?.path).toBe(join(dir, 'sidecar-cache', 'pool', 'job-77', 'sidecar.iso'));
      expect(sha256(readFileSync(staged[0]?.path as string))).toBe(sha256(data));
    } finally {
      await app.close();
    }
  });

  it('fails with the import’s reason when the asset failed', { timeout: 60_000 }, async () => {
    source.serve('/iso/corrupt.iso', randomData(MiB, 34));
    await server.api('POST', 'assets', {
      type: 'iso',
      url: `${source.url}/iso/corrupt.iso`,
      sha256: sha256(Buffer.from('not it')),
    });
    await expect(
      stageAssets({
        job: 1,
        settings: { ISO: 'corrupt.iso' },
        supply: { kind: 'local', store },
        states: apiAssetStates({ apiUrl: server.url }),
      }),
    ).rejects.toThrow(/asset failed: iso\/corrupt\.iso failed: .*checksum mismatch/);
  });

  it('says which asset is missing when it is neither registered nor stored', async () => {
    await expect(
      stageAssets({
        job: 1,
        settings: { HDD_1: 'nowhere.qcow2' },
        supply: { kind: 'local', store },
        states: apiAssetStates({ apiUrl: server.url }),
      }),
    ).rejects.toThrow(/asset hdd\/nowhere\.qcow2 does not exist/);
  });
});
