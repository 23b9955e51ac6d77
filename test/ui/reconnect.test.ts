// The UI's event stream going down: the server restarts (its websockets dropped, new connections
// refused meanwhile), a job of a new build is created while no page can hear of it, and the
// overview open in Chromium catches up once its event stream is back — without any later event.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { insertJobs } from '../../db/jobs.js';
import { buildApp } from '../../webui/app.js';
import { startServer, type TestServer } from '../api/server.js';
import { connectBrowser, watchedPage } from './browser.js';

const work = mkdtempSync(join(tmpdir(), 'kubeqa-ui-reconnect-'));
let server: TestServer;
let restarted: FastifyInstance | undefined;
let browser: Browser;
let context: BrowserContext;
let page: Page;
let errors: string[];
let groupId: number;

beforeAll(async () => {
  server = await startServer('ui_reconnect');
  const group = await server.api('POST', 'job_groups', { name: 'reconnect' });
  groupId = Number(group.body.id);
  const created = await server.api('POST', 'jobs', {
    TEST: 'before',
    DISTRI: 'kubeqa',
    VERSION: '1',
    FLAVOR: 'demo',
    ARCH: 'x86_64',
    BUILD: 'before-drop',
    _GROUP: 'reconnect',
  });
  expect(created.status, JSON.stringify(created.body)).toBe(200);
  browser = await connectBrowser();
  context = await browser.newContext({ baseURL: server.url });
  ({ page, errors } = await watchedPage(context));
}, 120_000);

afterAll(async () => {
  await context?.close();
  await browser?.close();
  await restarted?.close();
  await server?.close();
  rmSync(work, { recursive: true, force: true });
});

describe('the overview after its event stream was down', () => {
  it('re-reads on reconnect and shows what changed meanwhile', async () => {
    await page.goto('/tests');
    await page.locator('tr[data-build="before-drop"]').waitFor();
    await page.locator('html[data-events="connected"]').waitFor();

    // the server goes away: its websockets are closed and the page sees it
    await server.app.close();
    await page.locator('html[data-events="closed"]').waitFor();
    // a job of a new build is created while no server fans events out
    await insertJobs(server.database.query, [
      {
        test: 'after',
        distri: 'kubeqa',
        version: '1',
        flavor: 'demo',
        arch: 'x86_64',
        build: 'after-drop',
        machine: '64bit',
        groupId,
        priority: 50,
        scheduledProductId: null,
        settings: { TEST: ['after'] },
        assets: [],
      },
    ]);
    // the server comes back on the same address; nothing else happens
    restarted = await buildApp({ database: server.database, blobDir: work });
    await restarted.listen({ host: '127.0.0.1', port: Number(new URL(server.url).port) });
    await page.locator('html[data-events="connected"]').waitFor({ timeout: 30_000 });
    await page.locator('tr[data-build="after-drop"]').waitFor({ timeout: 30_000 });
    expect(errors.filter((e) => !/WebSocket|ERR_CONNECTION_REFUSED|Failed to load resource/.test(e))).toEqual(
      [],
    );
  });
});
