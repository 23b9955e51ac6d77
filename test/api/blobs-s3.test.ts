// Result files in S3 (MinIO from the harness): uploaded once per content, downloadable through
// the API, and the same route on the directory store.
import { createHash } from 'node:crypto';
import * as Minio from 'minio';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openPostgres } from '../../db/connect.js';
import { migrate } from '../../db/migrate.js';
import { createApiKey, ensureUser } from '../../db/users.js';
import { signRequest } from '../../domain/auth/hmac.js';
import { buildApp } from '../../webui/app.js';
import { s3BlobStore } from '../../webui/blob-store.js';
import { createDatabase, testEnv } from '../env/index.js';

let close: () => Promise<void> = async () => {};
afterAll(async () => close());

describe('result files in S3', () => {
  let url: string;
  let sign: (path: string) => Record<string, string>;
  let minio: Awaited<ReturnType<typeof testEnv.minio>>;
  beforeAll(async () => {
    minio = await testEnv.minio();
    const database = openPostgres({ url: await createDatabase(await testEnv.postgres(), 'api_blobs_s3') });
    await migrate(database);
    const { key, secret } = await createApiKey(
      database.query,
      await ensureUser(database.query, 'admin', 'admin'),
    );
    sign = (path) => ({ ...signRequest(key, secret, path) });
    const app = await buildApp({
      database,
      blobStore: s3BlobStore({ ...minio, useSSL: false, prefix: 'results/' }),
    });
    url = await app.listen({ host: '127.0.0.1', port: 0 });
    close = async () => {
      await app.close();
      await database.close();
    };
  });

  it('stores each content once in the bucket and serves it back', async () => {
    const created = await fetch(`${url}/api/v1/jobs?TEST=s3`, {
      method: 'POST',
      headers: sign('/api/v1/jobs?TEST=s3'),
    });
    const { id } = (await created.json()) as { id: number };
    const log = Buffer.from(`serial log of job ${id}\n`.repeat(100));
    const hash = createHash('sha256').update(log).digest('hex');
    const put = (name: string) =>
      fetch(`${url}/api/v1/jobs/${id}/artefacts/${name}`, {
        method: 'PUT',
        headers: {
          ...sign(`/api/v1/jobs/${id}/artefacts/${name}`),
          'content-type': 'application/octet-stream',
        },
        body: log,
      }).then((r) => r.json());
    expect(await put('serial0.txt')).toEqual({ hash, uploaded: true, linked: true });
    expect(await put('serial0-copy.txt')).toEqual({ hash, uploaded: false, linked: true });
    const client = new Minio.Client({
      endPoint: minio.endPoint,
      port: minio.port,
      useSSL: false,
      accessKey: minio.accessKey,
      secretKey: minio.secretKey,
    });
    const stat = await client.statObject(minio.bucket, `results/${hash.slice(0, 2)}/${hash}`);
    expect(stat.size).toBe(log.length);
    const got = await fetch(`${url}/api/v1/jobs/${id}/artefacts/serial0-copy.txt`);
    expect(got.headers.get('content-type')).toContain('text/plain');
    expect(Buffer.from(await got.arrayBuffer()).equals(log)).toBe(true);
    expect((await fetch(`${url}/api/v1/jobs/${id}/artefacts/nothere.txt`)).status).toBe(404);
  });
});
