// HMAC API-key rules and tokens on real PostgreSQL: good signature, wrong secret, wrong path,
// time outside the window, expired key, roles; personal access tokens over Bearer and Basic.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createAccessToken, createApiKey, ensureUser } from '../../db/users.js';
import { apiHash } from '../../domain/auth/hmac.js';
import { startServer, type TestServer } from './server.js';

let s: TestServer;
beforeAll(async () => {
  s = await startServer('api_auth');
});
afterAll(async () => s?.close());

async function signed(
  path: string,
  opts: { key?: string; secret?: string; time?: number | string; signPath?: string; method?: string } = {},
) {
  const time = opts.time ?? Math.floor(Date.now() / 1000);
  const res = await fetch(`${s.url}${path}`, {
    method: opts.method ?? 'POST',
    headers: {
      'X-API-Key': opts.key ?? s.key,
      'X-API-Microtime': String(time),
      'X-API-Hash': apiHash(opts.secret ?? s.secret, opts.signPath ?? path, time),
    },
  });
  return {
    status: res.status,
    body: (await res.json()) as { error?: string; error_status?: number; id?: number },
  };
}

describe('API-key signatures', () => {
  it('accepts a good signature, also with a fractional time as the Python client sends', async () => {
    expect((await signed('/api/v1/jobs?TEST=a')).status).toBe(200);
    expect(
      (await signed('/api/v1/jobs?TEST=b', { time: `${Math.floor(Date.now() / 1000)}.123456` })).status,
    ).toBe(200);
  });

  it('refuses a wrong secret, a wrong path, a stale time and an unknown key with the error shape', async () => {
    expect(await signed('/api/v1/jobs?TEST=a', { secret: 'NOTTHESECRET' })).toEqual({
      status: 403,
      body: expect.objectContaining({ error: 'invalid API-key signature for this path', error_status: 403 }),
    });
    expect((await signed('/api/v1/jobs?TEST=a', { signPath: '/api/v1/jobs?TEST=b' })).body.error).toBe(
      'invalid API-key signature for this path',
    );
    const stale = await signed('/api/v1/jobs?TEST=a', { time: Math.floor(Date.now() / 1000) - 301 });
    expect(stale.status).toBe(403);
    expect(stale.body.error).toContain('timestamp mismatch');
    const future = await signed('/api/v1/jobs?TEST=a', { time: Math.floor(Date.now() / 1000) + 400 });
    expect(future.body.error).toContain('timestamp mismatch');
    expect((await signed('/api/v1/jobs?TEST=a', { key: 'NOSUCHKEY' })).body.error).toBe('unknown API key');
  });

  it('refuses an expired key', async () => {
    const userId = await ensureUser(s.database.query, 'olduser', 'operator');
    const old = await createApiKey(s.database.query, userId, new Date(Date.now() - 1000));
    const res = await signed('/api/v1/jobs?TEST=a', { key: old.key, secret: old.secret });
    expect(res).toEqual({ status: 403, body: expect.objectContaining({ error: 'the API key has expired' }) });
  });

  it('enforces roles: a viewer may read and comment, not schedule', async () => {
    const userId = await ensureUser(s.database.query, 'viewer1', 'viewer');
    const k = await createApiKey(s.database.query, userId);
    const res = await signed('/api/v1/jobs?TEST=a', { key: k.key, secret: k.secret });
    expect(res.status).toBe(403);
    expect(res.body.error).toBe('user viewer1 has the role viewer, this needs operator');
    const read = await signed('/api/v1/jobs', { key: k.key, secret: k.secret, method: 'GET' });
    expect(read.status).toBe(200);
  });
});

describe('personal access tokens', () => {
  it('work as Bearer and as Basic password, and are refused when wrong or for another user', async () => {
    const userId = await ensureUser(s.database.query, 'tokenuser', 'operator');
    const token = await createAccessToken(s.database.query, userId, 'ci');
    const post = (authorization: string) =>
      fetch(`${s.url}/api/v1/jobs?TEST=tok`, { method: 'POST', headers: { authorization } }).then(
        async (r) => ({
          status: r.status,
          body: (await r.json()) as { error?: string },
        }),
      );
    expect((await post(`Bearer ${token}`)).status).toBe(200);
    expect((await post(`Basic ${Buffer.from(`tokenuser:${token}`).toString('base64')}`)).status).toBe(200);
    expect((await post(`Basic ${Buffer.from(`admin:${token}`).toString('base64')}`)).body.error).toBe(
      'invalid access token',
    );
    expect((await post('Bearer kq_nope')).status).toBe(403);
  });
});

describe('users/me/api_keys', () => {
  it('creates, lists and deletes your own keys; a new key signs requests', async () => {
    const created = await s.api('POST', 'users/me/api_keys', { t_expiration: '2099-01-01T00:00:00Z' });
    expect(created.body.key).toMatch(/^[0-9A-F]{16}$/);
    expect(created.body.t_expiration).toBe('2099-01-01T00:00:00');
    expect(
      (await signed('/api/v1/jobs?TEST=k', { key: created.body.key, secret: created.body.secret })).status,
    ).toBe(200);
    const listed = await s.api('GET', 'users/me/api_keys');
    expect(listed.body.api_keys.map((k: { key: string }) => k.key)).toContain(created.body.key);
    expect((await s.api('DELETE', `users/me/api_keys/${created.body.id}`)).body).toEqual({ result: 1 });
    expect(
      (await signed('/api/v1/jobs?TEST=k', { key: created.body.key, secret: created.body.secret })).body
        .error,
    ).toBe('unknown API key');
    expect((await s.api('POST', 'users/me/api_keys', { t_expiration: 'soon' })).body.error).toBe(
      "t_expiration 'soon' is not a date",
    );
  });
});
