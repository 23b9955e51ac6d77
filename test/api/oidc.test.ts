// OIDC login against a real provider: Dex (built from the Go module proxy by the harness) with
// its static password database and its mock connector (a fixed user in the group "authors").
// The "browser" is fetch with a cookie jar and manual redirects: the whole authorization-code
// flow with PKCE runs as a browser would run it, without one.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type OpenDatabase, openPostgres } from '../../db/connect.js';
import { migrate } from '../../db/migrate.js';
import { ensureUser } from '../../db/users.js';
import { buildApp } from '../../webui/app.js';
import { oidcFromEnv } from '../../webui/server-config.js';
import { createDatabase, testEnv } from '../env/index.js';
import { freePort } from '../env/ports.js';
import { DEX_PASSWORD, type RunningDex, startDex } from '../env/services/dex.js';

const CLIENT_ID = 'kubeqa';
const CLIENT_SECRET = 'kubeqa-test-client-secret';

let dex: RunningDex;
let app: FastifyInstance;
let database: OpenDatabase;
let appUrl: string;
let blobDir: string;

beforeAll(async () => {
  const port = await freePort();
  appUrl = `http://127.0.0.1:${port}`;
  dex = await startDex(await testEnv.dex(), {
    clients: [
      { id: CLIENT_ID, secret: CLIENT_SECRET, redirectURIs: [`${appUrl}/api/v1/session/oidc/callback`] },
    ],
    users: [
      { email: 'jane@example.com', username: 'jane', userID: 'b6a5c7d0-0000-4000-8000-000000000001' },
      { email: 'admin@example.com', username: 'admin', userID: 'b6a5c7d0-0000-4000-8000-000000000002' },
    ],
  });
  database = openPostgres({ url: await createDatabase(await testEnv.postgres(), 'api_oidc') });
  await migrate(database);
  await ensureUser(database.query, 'admin', 'admin'); // the local admin: its name is not for OIDC users
  blobDir = mkdtempSync(join(tmpdir(), 'kubeqa-blobs-'));
  // configured the way `kubeqa server` reads it
  const { oidc } = oidcFromEnv({
    KUBEQA_OIDC_ISSUER: dex.issuer,
    KUBEQA_OIDC_CLIENT_ID: CLIENT_ID,
    KUBEQA_OIDC_CLIENT_SECRET: CLIENT_SECRET,
    KUBEQA_OIDC_SCOPES: 'openid profile email groups',
    // Dex puts a password-database user's name in `name` (it sends no preferred_username)
    KUBEQA_OIDC_USERNAME_CLAIM: 'name',
    KUBEQA_OIDC_ADMIN_VALUES: 'authors',
  });
  app = await buildApp({ database, blobDir, ...(oidc ? { oidc } : {}) });
  await app.listen({ host: '127.0.0.1', port });
}, 600_000); // a cold cache builds Dex first

afterAll(async () => {
  await app?.close();
  await database?.close();
  await dex?.stop();
  if (blobDir) rmSync(blobDir, { recursive: true, force: true });
});

/** Cookies per origin, redirects by hand: what a browser does, step by step. */
class Browser {
  private readonly jar = new Map<string, Map<string, string>>();

  async request(url: string, init: RequestInit = {}): Promise<Response> {
    const { origin } = new URL(url);
    const cookies = this.jar.get(origin) ?? new Map<string, string>();
    const headers = new Headers(init.headers);
    if (cookies.size > 0) headers.set('cookie', [...cookies].map(([k, v]) => `${k}=${v}`).join('; '));
    const response = await fetch(url, { ...init, headers, redirect: 'manual' });
    for (const line of response.headers.getSetCookie()) {
      const [pair = '', ...attributes] = line.split(';');
      const eq = pair.indexOf('=');
      const name = pair.slice(0, eq).trim();
      const expired = attributes.some((a) => /^\s*max-age=0\s*$/i.test(a));
      if (expired) cookies.delete(name);
      else cookies.set(name, pair.slice(eq + 1).trim());
    }
    this.jar.set(origin, cookies);
    return response;
  }

  cookie(origin: string, name: string): string | undefined {
    return this.jar.get(origin)?.get(name);
  }

  /** Follows redirects until one leaves for `stopAt` (not followed) or a page answers. */
  async follow(
    url: string,
    stopAt: string,
    init?: RequestInit,
  ): Promise<{ response: Response; url: string }> {
    let current = url;
    let response = await this.request(current, init);
    for (let hops = 0; hops < 10 && response.status >= 300 && response.status < 400; hops++) {
      const next = new URL(response.headers.get('location') ?? '', current).toString();
      if (next.startsWith(stopAt)) return { response, url: next };
      current = next;
      response = await this.request(current);
    }
    return { response, url: current };
  }
}

/** Starts a login at kubeqa; returns the provider's authorization URL. */
async function startLogin(browser: Browser, returnTo = '/tests/42'): Promise<URL> {
  const response = await browser.request(
    `${appUrl}/api/v1/session/oidc?return_to=${encodeURIComponent(returnTo)}`,
  );
  expect(response.status).toBe(302);
  return new URL(response.headers.get('location') ?? '');
}

/** The login page of Dex's password database, filled in and sent; returns kubeqa's callback URL. */
async function loginAtDex(
  browser: Browser,
  authorize: URL,
  login: string,
  password: string,
): Promise<string> {
  authorize.searchParams.set('connector_id', 'local');
  const page = await browser.follow(authorize.toString(), appUrl);
  expect(page.response.status).toBe(200);
  const html = await page.response.text();
  const action = /<form[^>]*method="post"[^>]*action="([^"]*)"/i.exec(html)?.[1] ?? '';
  const target = new URL(action.replaceAll('&amp;', '&'), page.url).toString();
  const sent = await browser.follow(target, appUrl, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ login, password }).toString(),
  });
  expect(sent.url.startsWith(`${appUrl}/api/v1/session/oidc/callback`), await sent.response.text()).toBe(
    true,
  );
  return sent.url;
}

async function session(browser: Browser) {
  const response = await browser.request(`${appUrl}/api/v1/session`);
  return { status: response.status, body: (await response.json()) as Record<string, string> };
}

describe('OIDC login with Dex', () => {
  it('logs in through the password form with PKCE, creates the user from the claims, opens a session', async () => {
    const browser = new Browser();
    const authorize = await startLogin(browser);
    expect(`${authorize.origin}${authorize.pathname}`).toBe(`${dex.issuer}/auth`);
    expect(Object.fromEntries(authorize.searchParams)).toMatchObject({
      response_type: 'code',
      client_id: CLIENT_ID,
      redirect_uri: `${appUrl}/api/v1/session/oidc/callback`,
      scope: 'openid profile email groups',
      code_challenge_method: 'S256',
    });
    expect(authorize.searchParams.get('code_challenge')).toMatch(/^[\w-]{43}$/);
    expect(browser.cookie(appUrl, 'kubeqa_oidc')).toBeDefined();

    const callback = await loginAtDex(browser, authorize, 'jane@example.com', DEX_PASSWORD);
    const done = await browser.request(callback);
    expect(done.status, await done.clone().text()).toBe(302);
    expect(done.headers.get('location')).toBe('/tests/42');
    expect(browser.cookie(appUrl, 'kubeqa_session')).toBeDefined();
    expect(browser.cookie(appUrl, 'kubeqa_oidc')).toBeUndefined(); // the pending login is cleared

    const current = await session(browser);
    expect(current.status).toBe(200);
    expect(current.body).toMatchObject({ user: 'jane', role: 'viewer' });
    const [row] = await database.query<{ email: string; oidc_subject: string; password_hash: string | null }>(
      "select email, oidc_subject, password_hash from users where username = 'jane'",
    );
    expect(row).toMatchObject({ email: 'jane@example.com', password_hash: null });
    expect(row?.oidc_subject).toBeTruthy();

    // the session is a real one: a viewer may read but not change
    const csrf = current.body.csrf_token as string;
    const change = await browser.request(`${appUrl}/api/v1/jobs?TEST=x`, {
      method: 'POST',
      headers: { 'x-csrf-token': csrf },
    });
    expect(change.status).toBe(403);
    expect(((await change.json()) as { error: string }).error).toMatch(/role viewer, this needs operator/);

    // a second login finds the same account (by subject), it does not make another
    const again = new Browser();
    const url = await loginAtDex(again, await startLogin(again), 'jane@example.com', DEX_PASSWORD);
    expect((await again.request(url)).status).toBe(302);
    const [{ count }] = (await database.query<{ count: string }>(
      "select count(*) from users where email = 'jane@example.com'",
    )) as [{ count: string }];
    expect(Number(count)).toBe(1);
  });

  it('makes a member of the admin group an admin (group claim mapping)', async () => {
    const browser = new Browser();
    const authorize = await startLogin(browser, '/');
    authorize.searchParams.set('connector_id', 'mock');
    const { url } = await browser.follow(authorize.toString(), appUrl);
    expect((await browser.request(url)).status).toBe(302);
    const current = await session(browser);
    // Dex's mock connector: Kilgore Trout, in the group "authors"
    expect(current.body).toMatchObject({ role: 'admin' });
    const [row] = await database.query<{ username: string; email: string; role: string }>(
      "select username, email, role from users where email = 'kilgore@kilgore.trout'",
    );
    expect(row).toMatchObject({ role: 'admin' });
  });

  it('refuses an answer for another login (state), a missing login cookie, and a replayed code', async () => {
    const browser = new Browser();
    const callback = await loginAtDex(browser, await startLogin(browser), 'jane@example.com', DEX_PASSWORD);

    const forged = new URL(callback);
    forged.searchParams.set('state', 'not-the-state-of-this-login');
    const wrongState = await browser.request(forged.toString());
    expect(wrongState.status).toBe(403);
    expect(((await wrongState.json()) as { error: string }).error).toMatch(/state/);

    const stranger = new Browser(); // has not started a login
    const noCookie = await stranger.request(callback);
    expect(noCookie.status).toBe(403);
    expect(((await noCookie.json()) as { error: string }).error).toMatch(/login cookie is missing/);

    expect((await browser.request(callback)).status).toBe(302);
    // the same code again (the pending cookie is gone after a login): refused
    const replay = new Browser();
    const replayStart = await startLogin(replay);
    const replayed = new URL(callback);
    replayed.searchParams.set('state', replayStart.searchParams.get('state') ?? '');
    const second = await replay.request(replayed.toString());
    expect(second.status).toBe(403);
    expect(((await second.json()) as { error: string }).error).toMatch(/token request failed|invalid_grant/i);
    expect(replay.cookie(appUrl, 'kubeqa_session')).toBeUndefined();
  });

  it('does not hand an OIDC user a local account with the same name', async () => {
    const browser = new Browser();
    const callback = await loginAtDex(browser, await startLogin(browser), 'admin@example.com', DEX_PASSWORD);
    const response = await browser.request(callback);
    expect(response.status).toBe(409);
    expect(((await response.json()) as { error: string }).error).toMatch(
      /user name admin already belongs to another account/,
    );
    expect(browser.cookie(appUrl, 'kubeqa_session')).toBeUndefined();
  });

  it('returns only to paths on this server', async () => {
    const browser = new Browser();
    const authorize = await startLogin(browser, '//evil.example/steal');
    const callback = await loginAtDex(browser, authorize, 'jane@example.com', DEX_PASSWORD);
    const response = await browser.request(callback);
    expect(response.headers.get('location')).toBe('/');
  });
});
