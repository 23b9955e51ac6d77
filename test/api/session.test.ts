// Browser sessions: local login, HttpOnly cookie, CSRF token required for changes, logout.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ensureLocalAdmin, ensureUser, setPassword } from '../../db/users.js';
import { startServer, type TestServer } from './server.js';

let s: TestServer;
beforeAll(async () => {
  s = await startServer('api_session');
  await ensureLocalAdmin(s.database.query, 'correct horse battery');
  const viewer = await ensureUser(s.database.query, 'watcher', 'viewer');
  await setPassword(s.database.query, viewer, 'watcher-password');
});
afterAll(async () => s?.close());

async function login(username: string, password: string) {
  const res = await fetch(`${s.url}/api/v1/session`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ username, password }),
  });
  return {
    status: res.status,
    cookie: res.headers.get('set-cookie') ?? '',
    body: (await res.json()) as Record<string, string>,
  };
}

describe('browser sessions', () => {
  it('log in, change things only with the CSRF token, log out', async () => {
    const { status, cookie, body } = await login('admin', 'correct horse battery');
    expect(status).toBe(200);
    expect(cookie).toMatch(/^kubeqa_session=[^;]+; Path=\/; HttpOnly; SameSite=Lax/);
    expect(body).toMatchObject({ user: 'admin', role: 'admin' });
    const session = cookie.split(';')[0] as string;
    const current = await fetch(`${s.url}/api/v1/session`, { headers: { cookie: session } }).then((r) =>
      r.json(),
    );
    expect(current).toEqual({ user: 'admin', role: 'admin', csrf_token: body.csrf_token });
    const post = (headers: Record<string, string>) =>
      fetch(`${s.url}/api/v1/jobs?TEST=from-ui`, {
        method: 'POST',
        headers: { cookie: session, ...headers },
      }).then(async (r) => ({
        status: r.status,
        body: (await r.json()) as Record<string, unknown>,
      }));
    expect(await post({})).toEqual({
      status: 403,
      body: expect.objectContaining({ error: 'missing or wrong CSRF token' }),
    });
    expect((await post({ 'x-csrf-token': 'forged' })).status).toBe(403);
    expect((await post({ 'x-csrf-token': body.csrf_token as string })).status).toBe(200);
    const out = await fetch(`${s.url}/api/v1/session`, {
      method: 'DELETE',
      headers: { cookie: session, 'x-csrf-token': body.csrf_token as string },
    });
    expect(out.status).toBe(200);
    const after = await post({ 'x-csrf-token': body.csrf_token as string });
    expect(after.body.error).toBe('the session has expired');
  });

  it('refuses a wrong password the same way as an unknown user, and keeps roles', async () => {
    expect((await login('admin', 'wrong password')).body.error).toBe('wrong user name or password');
    expect((await login('nobody', 'whatever123')).body.error).toBe('wrong user name or password');
    const viewer = await login('watcher', 'watcher-password');
    const res = await fetch(`${s.url}/api/v1/jobs?TEST=x`, {
      method: 'POST',
      headers: {
        cookie: viewer.cookie.split(';')[0] as string,
        'x-csrf-token': viewer.body.csrf_token as string,
      },
    });
    expect(((await res.json()) as { error: string }).error).toBe(
      'user watcher has the role viewer, this needs operator',
    );
  });

  it('reads the session and its CSRF token once per request (/ui/session, /session)', async () => {
    const { cookie, body } = await login('admin', 'correct horse battery');
    const session = cookie.split(';')[0] as string;
    // every statement the server sends while answering, on the real database
    const original = s.database.query;
    const statements: string[] = [];
    s.database.query = ((sql: string, params?: unknown[]) => {
      statements.push(sql);
      return original.call(s.database, sql, params);
    }) as typeof original;
    try {
      for (const path of ['ui/session', 'session']) {
        statements.length = 0;
        const answer = await fetch(`${s.url}/api/v1/${path}`, { headers: { cookie: session } }).then((r) =>
          r.json(),
        );
        expect(answer).toEqual({ user: 'admin', role: 'admin', csrf_token: body.csrf_token });
        expect(
          statements.filter((sql) => /\bsessions\b/.test(sql)),
          path,
        ).toHaveLength(1);
      }
    } finally {
      s.database.query = original;
    }
    const anonymous = await fetch(`${s.url}/api/v1/ui/session`).then((r) => r.json());
    expect(anonymous).toEqual({ user: null });
  });
});
