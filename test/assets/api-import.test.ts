// The server's asset imports on real PostgreSQL and MinIO with a real local HTTP source:
// POST /api/v1/assets with url=… imports in the background (state visible through GET, with a
// wait that wakes on the state change), a checksum mismatch fails and keeps nothing, jobs with
// ISO_URL/HDD_1_URL get their asset settings filled and their assets imported, hosts outside the
// download domains are refused, and the file route is mounted with API-key and job-token auth.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { recordAssetState } from '../../db/assets.js';
import { changeJobStates } from '../../db/jobs.js';
import { issueJobToken } from '../../db/results.js';
import { signRequest } from '../../domain/auth/hmac.js';
import { createLogger } from '../../runtime/logger.js';
import { S3Store } from '../../runtime/storage/s3-store.js';
import { AssetImporter } from '../../webui/assets/importer.js';
import { startServer, type TestServer } from '../api/server.js';
import { testEnv } from '../env/index.js';
import type { MinioInfo } from '../env/services/minio.js';
import { type HttpSource, startHttpSource } from '../helpers/http-source.js';
import { bucketContents, freshBucket, randomData, readAll, s3Config, sha256 } from './helpers.js';

const MiB = 1024 * 1024;
let server: TestServer;
let source: HttpSource;
let store: S3Store;
let info: MinioInfo;
let bucket: string;

beforeAll(async () => {
  source = await startHttpSource();
  info = await testEnv.minio();
  bucket = await freshBucket(info, 'api-import');
  store = new S3Store({ ...s3Config(info, bucket), partSize: 5 * MiB });
  server = await startServer('asset_api_import', 'postgres', {
    assets: { store, downloadDomains: ['127.0.0.1'] },
  });
});

afterAll(async () => {
  await server?.close();
  await source?.close();
});

/** GET the asset, waiting (on the server's NOTIFY) until it is neither pending nor importing. */
async function settled(type: string, name: string) {
  for (let i = 0; i < 10; i++) {
    const r = await server.api('GET', `assets/${type}/${name}`, { wait: '30' });
    expect(r.status).toBe(200);
    if (r.body.state !== 'importing' && r.body.state !== 'pending') return r.body;
  }
  throw new Error(`${type}/${name} did not settle`);
}

describe('asset registration with a source URL', () => {
  it('imports in the background; GET shows the state, and the file route serves it', {
    timeout: 120_000,
  }, async () => {
    const data = randomData(11 * MiB, 21);
    source.serve('/dl/sle-15.iso', data);
    const posted = await server.api('POST', 'assets', {
      type: 'iso',
      url: `${source.url}/dl/sle-15.iso`,
      sha256: sha256(data),
    });
    expect(posted.status).toBe(202);
    expect(posted.body).toMatchObject({ type: 'iso', name: 'sle-15.iso', started: true });
    expect(['importing', 'ready']).toContain(posted.body.state);

    const asset = await settled('iso', 'sle-15.iso');
    expect(asset).toMatchObject({ state: 'ready', size: data.length, checksum: sha256(data) });
    expect(asset.source).toBe(`${source.url}/dl/sle-15.iso`);
    expect(sha256(await readAll(await store.get('iso/sle-15.iso')))).toBe(sha256(data));

    // Asking again for the same source does not download again.
    const again = await server.api('POST', 'assets', { type: 'iso', url: `${source.url}/dl/sle-15.iso` });
    expect(again.body).toMatchObject({ state: 'ready', started: false });

    // The file route is mounted: signed requests get the bytes, unsigned ones are refused.
    const path = '/api/v1/assets/iso/sle-15.iso/file';
    const signed = await fetch(`${server.url}${path}`, {
      headers: signRequest(server.key, server.secret, path),
    });
    expect(signed.status).toBe(200);
    expect(sha256(Buffer.from(await signed.arrayBuffer()))).toBe(sha256(data));
    const anonymous = await fetch(`${server.url}${path}`);
    expect(anonymous.status).toBe(401);
    await anonymous.arrayBuffer();
    const wrong = await fetch(`${server.url}${path}`, {
      headers: signRequest(server.key, 'not-the-secret', path),
    });
    expect(wrong.status).toBe(403);
    await wrong.arrayBuffer();
  });

  it('fails a checksum mismatch with the reason and keeps nothing in the store', {
    timeout: 60_000,
  }, async () => {
    const data = randomData(2 * MiB, 22);
    source.serve('/dl/broken.qcow2', data);
    const posted = await server.api('POST', 'assets', {
      type: 'hdd',
      url: `${source.url}/dl/broken.qcow2`,
      sha256: sha256(Buffer.from('other')),
    });
    expect(posted.status).toBe(202);
    const asset = await settled('hdd', 'broken.qcow2');
    expect(asset.state).toBe('failed');
    expect(asset.reason).toMatch(/checksum mismatch: expected sha256 [0-9a-f]{64}, got [0-9a-f]{64}/);
    expect(await store.stat('hdd/broken.qcow2')).toBeUndefined();
    expect((await bucketContents(info, bucket)).filter((n) => n.includes('broken'))).toEqual([]);
  });

  it('resumes, once, an import a stopped server left importing', { timeout: 60_000 }, async () => {
    const data = randomData(MiB, 25);
    source.serve('/dl/resume.iso', data);
    await recordAssetState(server.database.query, {
      type: 'iso',
      name: 'resume.iso',
      state: 'importing',
      source: `${source.url}/dl/resume.iso`,
      sha256: sha256(data),
    });
    const importer = new AssetImporter({
      database: server.database,
      store,
      log: createLogger('resume-test', 'warn'),
    });
    // Still moving (updated just now): not taken over.
    expect(await importer.resumeInterrupted()).toEqual([]);
    await server.database.query(
      "update assets set t_updated = now() - interval '10 minutes' where type = 'iso' and name = 'resume.iso'",
    );
    expect(await importer.resumeInterrupted()).toEqual(['iso/resume.iso']);
    // Claimed: a second server starting now does not import it again.
    const other = new AssetImporter({ database: server.database, store, log: createLogger('other', 'warn') });
    expect(await other.resumeInterrupted()).toEqual([]);
    await importer.idle();
    expect(await settled('iso', 'resume.iso')).toMatchObject({ state: 'ready', checksum: sha256(data) });
  });

  it('refuses bad input with a clear error', async () => {
    const notAllowed = await server.api('POST', 'assets', { type: 'iso', url: 'http://example.org/x.iso' });
    expect(notAllowed.status).toBe(400);
    expect(JSON.stringify(notAllowed.body)).toContain("downloads from 'example.org' are not allowed");
    const badSum = await server.api('POST', 'assets', {
      type: 'iso',
      url: `${source.url}/x.iso`,
      sha256: 'abc',
    });
    expect(badSum.status).toBe(400);
    expect(JSON.stringify(badSum.body)).toContain('is not a sha256 checksum');
    const badWait = await server.api('GET', 'assets/iso/x.iso', { wait: '600' });
    expect(badWait.status).toBe(400);
  });
});

describe('*_URL job settings', () => {
  it('fill the asset settings and import the assets when jobs are created', {
    timeout: 120_000,
  }, async () => {
    const iso = randomData(3 * MiB, 23);
    const disk = randomData(MiB, 24);
    source.serve('/builds/42/installer.iso', iso);
    source.serve('/builds/42/base.qcow2', disk);
    const created = await server.api('POST', 'jobs', {
      TEST: 'install',
      DISTRI: 'debian',
      ISO_URL: `${source.url}/builds/42/installer.iso`,
      HDD_1: 'base-42.qcow2',
      HDD_1_URL: `${source.url}/builds/42/base.qcow2`,
    });
    expect(created.status).toBe(200);
    const id = created.body.id as number;
    const job = await server.api('GET', `jobs/${id}`);
    expect(job.body.job.settings).toMatchObject({ ISO: 'installer.iso', HDD_1: 'base-42.qcow2' });
    expect(job.body.job.assets).toMatchObject({ iso: ['installer.iso'], hdd: ['base-42.qcow2'] });
    expect(await settled('iso', 'installer.iso')).toMatchObject({ state: 'ready', checksum: sha256(iso) });
    expect(await settled('hdd', 'base-42.qcow2')).toMatchObject({ state: 'ready', checksum: sha256(disk) });
    expect(sha256(await readAll(await store.get('hdd/base-42.qcow2')))).toBe(sha256(disk));

    // A running job's token may fetch its assets from the file route; a finished job's may not.
    const token = await issueJobToken(server.database.query, id);
    await changeJobStates(server.database.query, [{ id, state: 'assigned' }]);
    const path = '/api/v1/assets/iso/installer.iso/file';
    const ok = await fetch(`${server.url}${path}`, { headers: { authorization: `Bearer ${token}` } });
    expect(ok.status).toBe(200);
    expect(sha256(Buffer.from(await ok.arrayBuffer()))).toBe(sha256(iso));
    await changeJobStates(server.database.query, [{ id, state: 'done', result: 'incomplete' }]);
    const late = await fetch(`${server.url}${path}`, { headers: { authorization: `Bearer ${token}` } });
    expect(late.status).toBe(403);
    await late.arrayBuffer();
  });

  it('refuses a host outside the download domains and creates no job', async () => {
    const before = await server.database.query('select count(*)::int as n from jobs');
    const refused = await server.api('POST', 'jobs', {
      TEST: 't',
      ISO_URL: 'https://evil.example.com/a.iso',
    });
    expect(refused.status).toBe(400);
    expect(JSON.stringify(refused.body)).toContain('ISO_URL');
    expect(await server.database.query('select count(*)::int as n from jobs')).toEqual(before);
  });
});
