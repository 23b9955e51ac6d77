// `kubeqa server` as deployed: real PostgreSQL, two replicas starting at once on an empty
// database (the migration lock), health, the API, and a clear error for missing configuration.
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { afterAll, describe, expect, it } from 'vitest';
import { createDatabase, testEnv } from '../env/index.js';

const blobDir = mkdtempSync(join(tmpdir(), 'kubeqa-server-test-'));
const children: ReturnType<typeof spawn>[] = [];
afterAll(() => {
  for (const child of children) child.kill('SIGTERM');
  rmSync(blobDir, { recursive: true, force: true });
});

function server(env: Record<string, string>) {
  const child = spawn(
    process.execPath,
    ['--import', 'tsx', 'cli/main.ts', 'server', '--host', '127.0.0.1', '--port', '0'],
    {
      env: { ...process.env, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  children.push(child);
  let stderr = '';
  child.stderr!.on('data', (chunk) => {
    stderr += chunk;
  });
  const url = new Promise<string>((resolve, reject) => {
    createInterface({ input: child.stdout! }).on('line', (line) => {
      const match = /^kubeqa server: (\S+)$/.exec(line);
      if (match?.[1]) resolve(match[1]);
    });
    child.once('exit', (code) => reject(new Error(`kubeqa server exited (${code}):\n${stderr}`)));
  });
  // A caller that expects the server to fail waits on `exited` instead; do not report `url` then.
  url.catch(() => {});
  const exited = new Promise<{ code: number | null; stderr: string }>((resolve) =>
    child.once('exit', (code) => resolve({ code, stderr })),
  );
  return { url, exited };
}

describe('kubeqa server', () => {
  it('starts two replicas on one empty database, migrates once, and serves health and the API', async () => {
    const env = {
      KUBEQA_DATABASE_URL: await createDatabase(await testEnv.postgres(), 'server'),
      KUBEQA_BLOB_DIR: blobDir,
      KUBEQA_ADMIN_USER: 'admin',
      KUBEQA_ADMIN_PASSWORD: 'correct horse battery staple',
    };
    const [a, b] = await Promise.all([server(env).url, server(env).url]);
    for (const url of [a, b]) {
      const health = await fetch(`${url}/healthz`);
      expect(health.status).toBe(200);
      expect(await health.json()).toMatchObject({ status: 'ok', database: 'postgres' });
      const jobs = (await (await fetch(`${url}/api/v1/jobs`)).json()) as { jobs: unknown[] };
      expect(jobs.jobs).toEqual([]);
    }
  });

  it('refuses to start without a database, naming the variable', async () => {
    const { exited } = server({ KUBEQA_DATABASE_URL: '' });
    const { code, stderr } = await exited;
    expect(code).toBe(1);
    expect(stderr).toContain('KQ_ERR_INVALID_SETTING: KUBEQA_DATABASE_URL is not set');
  });
});
