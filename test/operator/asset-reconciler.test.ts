// The Asset reconciler against the real kube-apiserver, MinIO and PostgreSQL, with a real local
// HTTP server as the source: import with checksum and progress, Ready with location and
// conditions, Events, a checksum mismatch that fails with a typed reason and leaves nothing in
// the bucket, s3Key sources, and a spec change that imports again.

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { findAsset } from '../../db/assets.js';
import { type OpenDatabase, openPostgres } from '../../db/connect.js';
import { migrate } from '../../db/migrate.js';
import { KubeClient } from '../../operator/kube/client.js';
import { installCrds, KUBEQA_API_VERSION } from '../../operator/kube/crds.js';
import { EventRecorder } from '../../operator/kube/events.js';
import { type RunningAssetController, startAssetController } from '../../operator/reconcilers/asset.js';
import type { AssetObject } from '../../operator/reconcilers/asset-status.js';
import { createLogger } from '../../runtime/logger.js';
import { S3Store } from '../../runtime/storage/s3-store.js';
import {
  bucketContents,
  freshBucket,
  minioClient,
  randomData,
  readAll,
  s3Config,
  sha256,
} from '../assets/helpers.js';
import { createDatabase, testEnv } from '../env/index.js';
import type { MinioInfo } from '../env/services/minio.js';
import { type HttpSource, startHttpSource } from '../helpers/http-source.js';
import { ensureNamespace } from '../helpers/namespace.js';
import { waitForItem, waitForObject } from './wait.js';

const NS = 'asset-tests';
const ASSETS = `/apis/${KUBEQA_API_VERSION}/namespaces/${NS}/assets`;
const MiB = 1024 * 1024;

let client: KubeClient;
let info: MinioInfo;
let bucket: string;
let store: S3Store;
let database: OpenDatabase;
let controller: RunningAssetController | undefined;
let source: HttpSource;

beforeAll(async () => {
  const kube = await testEnv.kube();
  client = await KubeClient.fromKubeconfig(kube.kubeconfig);
  await installCrds(client);
  await ensureNamespace(client, NS);
  info = await testEnv.minio();
  bucket = await freshBucket(info, 'asset-cr');
  store = new S3Store({ ...s3Config(info, bucket), partSize: 5 * MiB });
  database = openPostgres({ url: await createDatabase(await testEnv.postgres(), 'asset_cr') });
  await migrate(database);

  source = await startHttpSource();

  controller = await startController();
});

async function startController(): Promise<RunningAssetController | undefined> {
  const log = createLogger('asset-reconciler-test', 'warn');
  return startAssetController({
    client,
    log,
    namespace: NS,
    store,
    events: new EventRecorder(client, 'kubeqa-operator', { log }),
    database: database.query,
    progressIntervalMs: 50,
    retry: { attempts: 2, baseDelayMs: 50, maxDelayMs: 100 },
  });
}

afterAll(async () => {
  await controller?.stop();
  await source?.close();
  await database?.close();
});

async function createAsset(name: string, spec: Record<string, unknown>): Promise<void> {
  await client.create(ASSETS, { apiVersion: KUBEQA_API_VERSION, kind: 'Asset', metadata: { name }, spec });
}

const readyCondition = (a: AssetObject) => a.status?.conditions?.find((c) => c.type === 'Ready');

async function eventReasons(name: string): Promise<string[]> {
  const list = await client.get<{ items: { reason: string; type: string }[] }>(
    `/api/v1/namespaces/${NS}/events?fieldSelector=${encodeURIComponent(`involvedObject.name=${name}`)}`,
  );
  return list.items.map((e) => `${e.type}/${e.reason}`);
}

describe('the Asset reconciler', () => {
  it('imports an http source with its checksum, reports progress, and ends Ready with its location', {
    timeout: 120_000,
  }, async () => {
    const data = randomData(12 * MiB, 7);
    source.serve('/images/disk-a.qcow2', data);
    const release = source.hold('/images/disk-a.qcow2');
    await createAsset('disk-a', {
      type: 'hdd',
      source: { url: `${source.url}/images/disk-a.qcow2` },
      sha256: sha256(data),
      size: data.length,
    });
    // Half the file has arrived: the status says Importing with a share between 1 and 99 %.
    const importing = await waitForObject<AssetObject>(
      client,
      ASSETS,
      'disk-a',
      (a) => {
        const p = a.status?.progress ?? 0;
        return a.status?.phase === 'Importing' && p > 0 && p < 100;
      },
      30_000,
    );
    expect(readyCondition(importing)).toMatchObject({ status: 'False', reason: 'Importing' });
    expect((await findAsset(database.query, 'hdd', 'disk-a.qcow2'))?.state).toBe('importing');
    release();

    const ready = await waitForObject<AssetObject>(
      client,
      ASSETS,
      'disk-a',
      (a) => a.status?.phase === 'Ready',
    );
    expect(ready.status).toMatchObject({
      progress: 100,
      location: `s3://${bucket}/assets/hdd/disk-a.qcow2`,
      observedGeneration: 1,
    });
    expect(ready.status?.reason).toBeUndefined();
    expect(readyCondition(ready)).toMatchObject({
      status: 'True',
      reason: 'Imported',
      observedGeneration: 1,
    });
    expect(sha256(await readAll(await store.get('hdd/disk-a.qcow2')))).toBe(sha256(data));
    expect((await store.stat('hdd/disk-a.qcow2'))?.sha256).toBe(sha256(data));
    const row = await findAsset(database.query, 'hdd', 'disk-a.qcow2');
    expect(row).toMatchObject({ state: 'ready', size: data.length, checksum: sha256(data) });
    await waitForItem<{ reason: string }>(
      client,
      `/api/v1/namespaces/${NS}/events`,
      'involvedObject.name=disk-a',
      (e) => e.reason === 'Imported',
    );
    expect(await eventReasons('disk-a')).toEqual(
      expect.arrayContaining(['Normal/Importing', 'Normal/Imported']),
    );
  });

  it('fails a checksum mismatch with a typed reason and keeps nothing in the store', {
    timeout: 120_000,
  }, async () => {
    const data = randomData(7 * MiB, 8);
    source.serve('/images/bad.iso', data);
    const wrong = sha256(Buffer.from('something else'));
    await createAsset('bad-iso', {
      type: 'iso',
      source: { url: `${source.url}/images/bad.iso` },
      sha256: wrong,
    });
    const failed = await waitForObject<AssetObject>(
      client,
      ASSETS,
      'bad-iso',
      (a) => a.status?.phase === 'Failed',
    );
    expect(readyCondition(failed)).toMatchObject({
      status: 'False',
      reason: 'ChecksumMismatch',
      observedGeneration: 1,
    });
    expect(failed.status?.reason).toMatch(
      /checksum mismatch: expected sha256 [0-9a-f]{64}, got [0-9a-f]{64}/,
    );
    expect(failed.status?.reason).toContain(sha256(data));
    expect(await store.stat('iso/bad.iso')).toBeUndefined();
    expect((await bucketContents(info, bucket)).filter((n) => n.includes('bad.iso'))).toEqual([]);
    const row = await findAsset(database.query, 'iso', 'bad.iso');
    expect(row?.state).toBe('failed');
    expect(row?.reason).toContain('checksum mismatch');
    await waitForItem<{ reason: string; type: string }>(
      client,
      `/api/v1/namespaces/${NS}/events`,
      'involvedObject.name=bad-iso',
      (e) => e.reason === 'ChecksumMismatch' && e.type === 'Warning',
    );
  });

  it('fails an unreachable source as SourceUnavailable, then imports again when the spec is fixed', {
    timeout: 120_000,
  }, async () => {
    await createAsset('fixme', {
      type: 'other',
      fileName: 'kernel.img',
      source: { url: `${source.url}/missing` },
    });
    const failed = await waitForObject<AssetObject>(
      client,
      ASSETS,
      'fixme',
      (a) => a.status?.phase === 'Failed',
    );
    expect(readyCondition(failed)?.reason).toBe('SourceUnavailable');
    expect(failed.status?.reason).toContain('404');

    const data = randomData(MiB, 9);
    source.serve('/kernel', data);
    await client.patch(`${ASSETS}/fixme`, { spec: { source: { url: `${source.url}/kernel` } } }, 'merge');
    const ready = await waitForObject<AssetObject>(
      client,
      ASSETS,
      'fixme',
      (a) => a.status?.phase === 'Ready' && a.status.observedGeneration === 2,
    );
    expect(readyCondition(ready)).toMatchObject({
      status: 'True',
      reason: 'Imported',
      observedGeneration: 2,
    });
    expect(ready.status?.reason).toBeUndefined();
    expect(sha256(await readAll(await store.get('other/kernel.img')))).toBe(sha256(data));
  });

  it('copies an s3Key source from the store bucket', { timeout: 120_000 }, async () => {
    const data = randomData(3 * MiB, 10);
    await minioClient(info).putObject(bucket, 'incoming/build-42.iso', data);
    await createAsset('from-s3', { type: 'iso', source: { s3Key: 'incoming/build-42.iso' } });
    const ready = await waitForObject<AssetObject>(
      client,
      ASSETS,
      'from-s3',
      (a) => a.status?.phase === 'Ready',
    );
    expect(ready.status?.location).toBe(`s3://${bucket}/assets/iso/build-42.iso`);
    expect(sha256(await readAll(await store.get('iso/build-42.iso')))).toBe(sha256(data));
  });

  it('imports again on a new operator when the old one stopped mid-import, keeping nothing half-written', {
    timeout: 120_000,
  }, async () => {
    const data = randomData(11 * MiB, 11);
    source.serve('/images/restart.qcow2', data);
    const release = source.hold('/images/restart.qcow2');
    await createAsset('restart', {
      type: 'hdd',
      source: { url: `${source.url}/images/restart.qcow2` },
      sha256: sha256(data),
    });
    await waitForObject<AssetObject>(
      client,
      ASSETS,
      'restart',
      (a) => a.status?.phase === 'Importing' && (a.status.progress ?? 0) > 0,
    );
    // The operator stops (leadership lost) while the source is half sent: the upload is aborted.
    await controller?.stop();
    controller = undefined;
    expect(await store.stat('hdd/restart.qcow2')).toBeUndefined();
    const stopped = await client.get<AssetObject>(`${ASSETS}/restart`);
    expect(stopped.status?.phase).toBe('Importing');

    // The next one finds the asset Importing for its generation with no import of its own: it starts again.
    release();
    controller = await startController();
    const ready = await waitForObject<AssetObject>(
      client,
      ASSETS,
      'restart',
      (a) => a.status?.phase === 'Ready',
    );
    expect(ready.status?.observedGeneration).toBe(1);
    expect(sha256(await readAll(await store.get('hdd/restart.qcow2')))).toBe(sha256(data));
    // The aborted attempt's multipart upload is gone, only the complete object is there.
    expect((await bucketContents(info, bucket)).filter((n) => n.includes('restart'))).toEqual([
      'assets/hdd/restart.qcow2',
    ]);
  });
});
