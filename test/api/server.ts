// Test helper: the real API on a real database (a fresh PostgreSQL database per test file, or
// PGlite), listening on a loopback port, with an admin and an API key, and a signed fetch.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import { type OpenDatabase, openPglite, openPostgres } from '../../db/connect.js';
import { migrate } from '../../db/migrate.js';
import { createApiKey, ensureUser } from '../../db/users.js';
import { signRequest } from '../../domain/auth/hmac.js';
import { type AppOptions, buildApp } from '../../webui/app.js';
import { createDatabase, testEnv } from '../env/index.js';

/** JSON as the API returns it; tests assert its shape. */
// biome-ignore lint/suspicious/noExplicitAny: API responses are checked by the assertions
export type Json = any;

export interface TestServer {
  url: string;
  app: FastifyInstance;
  database: OpenDatabase;
  key: string;
  secret: string;
  /** Signed request with the admin's key; `params` go to the query string. */
  api(
    method: string,
    path: string,
    params?: Record<string, string | string[]>,
    body?: unknown,
  ): Promise<{ status: number; body: Json }>;
  close(): Promise<void>;
}

export async function startServer(
  name: string,
  kind: 'postgres' | 'pglite' = 'postgres',
  /** More app options (an asset store, …). */
  extra: Pick<AppOptions, 'assets'> = {},
): Promise<TestServer> {
  const database =
    kind === 'postgres'
      ? openPostgres({ url: await createDatabase(await testEnv.postgres(), name) })
      : await openPglite();
  await migrate(database);
  const userId = await ensureUser(database.query, 'admin', 'admin');
  const { key, secret } = await createApiKey(database.query, userId);
  const blobDir = mkdtempSync(join(tmpdir(), 'kubeqa-blobs-'));
  const app = await buildApp({ database, blobDir, ...extra });
  const url = await app.listen({ host: '127.0.0.1', port: 0 });
  const api: TestServer['api'] = async (method, path, params, body) => {
    const search = new URLSearchParams();
    for (const [k, v] of Object.entries(params ?? {}))
      for (const one of Array.isArray(v) ? v : [v]) search.append(k, one);
    const pathQuery = `/api/v1/${path}${search.size > 0 ? `?${search.toString()}` : ''}`;
    const headers: Record<string, string> = { ...signRequest(key, secret, pathQuery) };
    if (body !== undefined) headers['content-type'] = 'application/json';
    const res = await fetch(`${url}${pathQuery}`, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await res.text();
    let parsed: unknown = text;
    try {
      parsed = JSON.parse(text);
    } catch {}
    return { status: res.status, body: parsed };
  };
  return {
    url,
    app,
    database,
    key,
    secret,
    api,
    close: async () => {
      await app.close();
      await database.close();
      rmSync(blobDir, { recursive: true, force: true });
    },
  };
}

/** A small fixture: products, machines, test suites, a group with YAML templates. */
export async function seedTemplates(s: TestServer, yaml: string, group = 'Debian'): Promise<number> {
  const g = await s.api('POST', 'job_groups', { name: group });
  const r = await s.api(
    'POST',
    `job_templates_scheduling/${g.body.id}`,
    { schema: 'JobTemplates-01.yaml' },
    { template: yaml },
  );
  if (r.status !== 200) throw new Error(`templates refused: ${JSON.stringify(r.body)}`);
  return g.body.id;
}
