// Remote mode: a worker without S3 credentials fetches assets over HTTPS from the web API with its
// API key, every request signed as openQA's clients sign them. The download route runs in a real
// fastify server (TLS with a throwaway CA) on the real MinIO store; the cache runs in-process, as
// the `kubeqa cache` daemon (HTTP API) and as the `kubeqa cache fetch` command.
import { execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Fastify, { type FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { signRequest } from '../../domain/auth/hmac.js';
import { S3Store } from '../../runtime/storage/s3-store.js';
import { assetDownloadRoute } from '../../webui/assets/download-route.js';
import { AssetCache } from '../../worker-image/cache/cache.js';
import { cacheServer, listenCache } from '../../worker-image/cache/daemon.js';
import { RemoteSource } from '../../worker-image/cache/sources.js';
import { testEnv } from '../env/index.js';
import { requireCommand } from '../env/system.js';
import { exitWithOutput } from '../helpers/child-output.js';
import { freshBucket, randomData, s3Config, sha256, streamOf } from './helpers.js';

const MiB = 1024 * 1024;
const dir = mkdtempSync(join(tmpdir(), 'kubeqa-remote-'));
const KEY = '1234567890ABCDEF';
const SECRET = 'FEDCBA0987654321';
const EXPIRED_KEY = 'EXPIRED000000000';
const JOB_TOKEN = 'job-42-token';
const data = randomData(6 * MiB, 99);
let web: FastifyInstance;
let baseUrl: string;
let caFile: string;

beforeAll(async () => {
  requireCommand('openssl', ['openssl']);
  caFile = join(dir, 'cert.pem');
  const keyFile = join(dir, 'key.pem');
  execFileSync(
    'openssl',
    [
      'req',
      '-x509',
      '-newkey',
      'rsa:2048',
      '-nodes',
      '-days',
      '1',
      '-subj',
      '/CN=127.0.0.1',
      '-addext',
      'subjectAltName=IP:127.0.0.1',
      '-keyout',
      keyFile,
      '-out',
      caFile,
    ],
    { stdio: 'ignore' },
  );
  const info = await testEnv.minio();
  const store = new S3Store(s3Config(info, await freshBucket(info, 'remote')));
  await store.put('iso/remote.iso', streamOf(data), { expectedSha256: sha256(data) });
  web = Fastify({ https: { key: readFileSync(keyFile), cert: readFileSync(caFile) } });
  await web.register(assetDownloadRoute, {
    store,
    lookupKey: (key) =>
      key === KEY
        ? { secret: SECRET, expired: false }
        : key === EXPIRED_KEY
          ? { secret: SECRET, expired: true }
          : undefined,
    verifyJobToken: (token) => token === JOB_TOKEN,
  });
  baseUrl = await web.listen({ host: '127.0.0.1', port: 0 });
});
afterAll(async () => {
  await web.close();
  rmSync(dir, { recursive: true, force: true });
});

const PATH = '/api/v1/assets/iso/remote.iso/file';

async function get(headers: Record<string, string>, path = PATH) {
  const { Agent, request } = await import('node:https');
  return new Promise<{ status: number; body: Buffer; headers: Record<string, unknown> }>(
    (resolve, reject) => {
      const req = request(
        `${baseUrl}${path}`,
        { headers, agent: new Agent({ ca: readFileSync(caFile) }) },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('end', () =>
            resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks), headers: res.headers }),
          );
        },
      );
      req.once('error', reject);
      req.end();
    },
  );
}

describe('remote mode over the web API', () => {
  it('serves a worker with a valid signature, and resumes from an offset', async () => {
    const cache = new AssetCache({
      directory: join(dir, 'cache1'),
      limitBytes: 100 * MiB,
      minFreePercent: 0,
      workers: 2,
      source: new RemoteSource({ baseUrl, apiKey: KEY, apiSecret: SECRET, caFile }),
    });
    const result = await cache.acquire({
      type: 'iso',
      name: 'remote.iso',
      dest: join(dir, 'cache1', 'pool', 'j1', 'remote.iso'),
    });
    expect(result).toMatchObject({ hit: false, size: data.length, sha256: sha256(data) });
    expect(
      (
        await cache.acquire({
          type: 'iso',
          name: 'remote.iso',
          dest: join(dir, 'cache1', 'pool', 'j2', 'remote.iso'),
        })
      ).hit,
    ).toBe(true);

    const ranged = await get({ ...signRequest(KEY, SECRET, PATH), Range: `bytes=${5 * MiB}-` });
    expect(ranged.status).toBe(206);
    expect(ranged.body.equals(data.subarray(5 * MiB))).toBe(true);
    expect(ranged.headers['x-kubeqa-sha256']).toBe(sha256(data));
  });

  it('refuses requests without a signature, with a wrong secret, a stale time, an unknown or expired key, as the API does', async () => {
    const none = await get({});
    expect(none.status).toBe(401);
    expect(none.body.toString()).toMatch(/authentication required/);
    const wrong = await get({ ...signRequest(KEY, 'not-the-secret', PATH) });
    expect(wrong.status).toBe(403);
    expect(wrong.body.toString()).toMatch(/invalid API-key signature for this path/);
    const stale = await get({ ...signRequest(KEY, SECRET, PATH, Math.floor(Date.now() / 1000) - 1000) });
    expect(stale.status).toBe(403);
    expect(stale.body.toString()).toMatch(/timestamp mismatch: X-API-Microtime is more than 300 s/);
    const unknown = await get({ ...signRequest('NOSUCHKEY', SECRET, PATH) });
    expect(unknown.status).toBe(403);
    expect(unknown.body.toString()).toMatch(/unknown API key/);
    const expired = await get({ ...signRequest(EXPIRED_KEY, SECRET, PATH) });
    expect(expired.status).toBe(403);
    expect(expired.headers['x-kubeqa-error']).toMatch(/the API key has expired/);
    const { 'X-API-Hash': _dropped, ...half } = signRequest(KEY, SECRET, PATH);
    const incomplete = await get(half);
    expect(incomplete.status).toBe(403);
    expect(incomplete.body.toString()).toMatch(/incomplete API-key signature/);
    // A signature is for one path: reusing it for another asset fails.
    const replayed = await get({ ...signRequest(KEY, SECRET, PATH) }, '/api/v1/assets/iso/other.iso/file');
    expect(replayed.status).toBe(403);
    const cache = new AssetCache({
      directory: join(dir, 'cache2'),
      limitBytes: 100 * MiB,
      minFreePercent: 0,
      workers: 1,
      source: new RemoteSource({ baseUrl, apiKey: KEY, apiSecret: 'not-the-secret', caFile }),
    });
    await expect(
      cache.acquire({
        type: 'iso',
        name: 'remote.iso',
        dest: join(dir, 'cache2', 'pool', 'j', 'remote.iso'),
      }),
    ).rejects.toThrow(
      /^cache failure: .*refused iso\/remote.iso: 403 invalid API-key signature for this path/,
    );
  });

  it('lets a test pod fetch with its job token, and refuses another token', async () => {
    const make = (jobToken: string, sub: string) =>
      new AssetCache({
        directory: join(dir, sub),
        limitBytes: 100 * MiB,
        minFreePercent: 0,
        workers: 1,
        source: new RemoteSource({ baseUrl, jobToken, caFile }),
      });
    const ok = await make(JOB_TOKEN, 'token-ok').acquire({ type: 'iso', name: 'remote.iso', job: '42' });
    expect(ok).toMatchObject({
      hit: false,
      sha256: sha256(data),
      path: join(dir, 'token-ok', 'pool', '42', 'remote.iso'),
    });
    await expect(
      make('job-43-token', 'token-bad').acquire({ type: 'iso', name: 'remote.iso', job: '43' }),
    ).rejects.toThrow(/^cache failure: .*403 unknown or expired job token/);
    expect((await get({ Authorization: 'Bearer nope' })).status).toBe(403);
  });

  it('works through the cache daemon and the kubeqa cache command', async () => {
    const cache = new AssetCache({
      directory: join(dir, 'cache3'),
      limitBytes: 100 * MiB,
      minFreePercent: 0,
      workers: 1,
      source: new RemoteSource({ baseUrl, apiKey: KEY, apiSecret: SECRET, caFile }),
    });
    // The sidecar's way: a unix socket in the pod, jobs named by id.
    const socket = join(dir, 'cache3.sock');
    const daemon = cacheServer(cache);
    expect(await listenCache(daemon, { socket })).toBe(`unix:${socket}`);
    const call = (method: string, path: string, body?: unknown) =>
      new Promise<{ status: number; json: Record<string, unknown> | undefined }>((resolve, reject) => {
        const req = httpRequest(
          { socketPath: socket, method, path, headers: body ? { 'content-type': 'application/json' } : {} },
          (res) => {
            let text = '';
            res.on('data', (c) => {
              text += c;
            });
            res.on('end', () =>
              resolve({
                status: res.statusCode ?? 0,
                json: text.startsWith('{') ? JSON.parse(text) : undefined,
              }),
            );
          },
        );
        req.once('error', reject);
        req.end(body ? JSON.stringify(body) : undefined);
      });
    try {
      // A second daemon cannot take a socket that is in use.
      await expect(listenCache(cacheServer(cache), { socket })).rejects.toThrow(/already listens on/);
      const ok = await call('POST', '/v1/assets/acquire', { type: 'iso', name: 'remote.iso', job: 'j1' });
      const dest = join(dir, 'cache3', 'pool', 'j1', 'remote.iso');
      expect(ok.status).toBe(200);
      expect(ok.json).toMatchObject({ hit: false, sha256: sha256(data), path: dest });
      expect(statSync(dest).size).toBe(data.length);
      expect(statSync(dest).nlink).toBe(2);
      const missing = await call('POST', '/v1/assets/acquire', {
        type: 'iso',
        name: 'missing.iso',
        job: 'j2',
      });
      expect(missing.status).toBe(503);
      expect(missing.json).toMatchObject({
        retryable: true,
        error: expect.stringMatching(/^cache failure: iso\/missing.iso does not exist/),
      });
      expect(
        (await call('POST', '/v1/assets/acquire', { type: 'iso', name: '../x', job: 'j3' })).status,
      ).toBe(400);
      expect((await call('DELETE', '/v1/jobs/j1')).status).toBe(204);
      expect(existsSync(dest)).toBe(false);
      expect(statSync(join(dir, 'cache3', 'assets', 'iso', 'remote.iso')).nlink).toBe(1);
      const metrics = await new Promise<string>((resolve, reject) => {
        httpRequest({ socketPath: socket, path: '/metrics' }, (res) => {
          let text = '';
          res.on('data', (c) => {
            text += c;
          });
          res.on('end', () => resolve(text));
        })
          .once('error', reject)
          .end();
      });
      expect(metrics).toMatch(/kubeqa_cache_misses_total 1/);
      expect(metrics).toMatch(/kubeqa_cache_failures_total 1/);
      expect(metrics).toMatch(new RegExp(`kubeqa_cache_downloaded_bytes_total ${data.length}`));
    } finally {
      await daemon.close();
    }

    const run = (secret: string, jobDir: string) =>
      new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) => {
        const child = spawn(
          process.execPath,
          [
            '--import',
            'tsx',
            'cli/main.ts',
            'cache',
            'fetch',
            'iso/remote.iso',
            '--dest',
            join(dir, 'cache4', 'pool', jobDir, 'remote.iso'),
          ],
          {
            env: {
              ...process.env,
              CACHEDIRECTORY: join(dir, 'cache4'),
              CACHELIMIT: '1',
              KUBEQA_API_URL: baseUrl,
              KUBEQA_API_KEY: KEY,
              KUBEQA_API_SECRET: secret,
              KUBEQA_API_CA_FILE: caFile,
              KUBEQA_LOG_LEVEL: 'warn',
            },
            stdio: ['ignore', 'pipe', 'pipe'],
          },
        );
        let stdout = '';
        let stderr = '';
        child.stdout.on('data', (c) => {
          stdout += c;
        });
        child.stderr.on('data', (c) => {
          stderr += c;
        });
        void exitWithOutput(child).then(({ code }) => resolve({ code, stdout, stderr }));
      });
    const refused = await run('not-the-secret', 'c1');
    expect(refused.code).toBe(75);
    expect(refused.stderr).toMatch(/kubeqa: cache failure: .*403/);
    expect(refused.stderr).not.toContain('not-the-secret');
    const fetched = await run(SECRET, 'c2');
    expect(fetched.code, fetched.stderr).toBe(0);
    expect(JSON.parse(fetched.stdout)).toMatchObject({ hit: false, sha256: sha256(data) });
  });
});
