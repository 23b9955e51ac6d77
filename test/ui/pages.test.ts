// The web UI in Debian's Chromium against a server with real results: a busybox job run by
// `kubeqa run` (needle match, failed match with a candidate) and reported through the runner
// routes; a second job running while the browser watches its live view, then cancelled and
// restarted from the page. Every page: no console errors, no serious axe-core violations, and a
// screenshot for docs/ui.md.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { changeJobStates } from '../../db/jobs.js';
import { registerSlots } from '../../db/slots.js';
import { setPassword } from '../../db/users.js';
import type { JobResultFile } from '../../domain/runner/results.js';
import { encodePng } from '../../worker-image/needles/index.js';
import { LivePush } from '../../worker-image/runner/live-push.js';
import { runJob } from '../../worker-image/runner/run-job.js';
import { startServer, type TestServer } from '../api/server.js';
import { busyboxMachineSettings } from '../helpers/busybox-jobs.js';
import { kubeqaRun } from '../helpers/kubeqa-cli.js';
import { waitUntil } from '../helpers/wait-until.js';
import { connectBrowser, screenshot, seriousViolations, watchedPage } from './browser.js';
import { RunnerClient, uploadResultDir } from './upload-results.js';

const CASEDIR = join(import.meta.dirname, 'fixtures', 'ui-demo');
const BUILD = '20261121.1';
const work = mkdtempSync(join(tmpdir(), 'kubeqa-ui-test-'));
let server: TestServer;
let browser: Browser;
let context: BrowserContext;
let page: Page;
let errors: string[];
let demoJob: number;

async function guestSettings(): Promise<Record<string, string>> {
  return { ...(await busyboxMachineSettings()), TIMEOUT_SCALE: '3' };
}

async function createJob(test: string, extra: Record<string, string>): Promise<number> {
  const r = await server.api('POST', 'jobs', {
    TEST: test,
    DISTRI: 'busybox',
    VERSION: '1.36',
    FLAVOR: 'initrd',
    ARCH: 'x86_64',
    MACHINE: 'tcg',
    BUILD,
    _GROUP: 'busybox demo',
    CASEDIR,
    ...extra,
  });
  expect(r.status, JSON.stringify(r.body)).toBe(200);
  return r.body.id as number;
}

/** Hands the job to a slot as the scheduler does (the runner may report only for an assigned job). */
async function assign(id: number): Promise<void> {
  await registerSlots(server.database.query, [{ id: `ui-slot-${id}`, pool: 'local', classes: [] }]);
  await server.database.transaction(async (q) => {
    await q('update jobs set slot_id = $2, sequence_index = 0 where id = $1', [id, `ui-slot-${id}`]);
    await changeJobStates(q, [{ id, state: 'assigned' }], 'scheduler');
  });
}

async function tokenFor(id: number): Promise<string> {
  await assign(id);
  const r = await server.api('POST', `jobs/${id}/token`);
  return r.body.token as string;
}

/** The page passes axe-core and has logged no error; then its screenshot is kept. */
async function checkPage(name: string, p: Page = page): Promise<void> {
  expect(await seriousViolations(p), `axe on ${name}`).toEqual([]);
  expect(errors, `console on ${name}`).toEqual([]);
  await screenshot(p, name);
}

beforeAll(async () => {
  server = await startServer('ui_pages');
  const [admin] = await server.database.query<{ id: number }>(
    "select id from users where username = 'admin'",
  );
  await setPassword(server.database.query, admin?.id as number, 'admin-password');
  await server.api('POST', 'job_groups', { name: 'busybox demo' });
  // the demo job: run for real, then reported through the runner routes
  demoJob = await createJob('ui-demo', await guestSettings());
  const dir = join(work, 'demo');
  const settings = Object.entries({ ...(await guestSettings()), CASEDIR, NOVIDEO: '0' }).map(
    ([k, v]) => `${k}=${v}`,
  );
  const run = await kubeqaRun(['--result-dir', dir, ...settings]);
  expect(run.stdout).toContain('result: failed');
  const result = await uploadResultDir(new RunnerClient(server.url, demoJob, await tokenFor(demoJob)), dir);
  expect(result).toBe('failed');
  browser = await connectBrowser();
  context = await browser.newContext({ viewport: { width: 1280, height: 900 }, baseURL: server.url });
  ({ page, errors } = await watchedPage(context));
}, 600_000);

afterAll(async () => {
  await context?.close();
  await browser?.close();
  await server?.close();
  rmSync(work, { recursive: true, force: true });
});

describe('the web UI with real results', () => {
  it('logs in', async () => {
    await page.goto('/login');
    await page.getByLabel('User name').fill('admin');
    await page.getByLabel('Password').fill('wrong-password');
    await page.getByRole('button', { name: 'Log in' }).click();
    await expectText(page.getByRole('alert'), 'wrong user name or password');
    errors.length = 0; // the refused login is a 401 the browser logs: expected here
    await page.getByLabel('Password').fill('admin-password');
    await checkPage('login');
    await page.getByRole('button', { name: 'Log in' }).click();
    await page.getByText('admin (admin)').waitFor();
  });

  it('shows the overview with result counts and filters', async () => {
    await page.getByRole('heading', { name: 'Test overview' }).waitFor();
    const row = page.locator(`tr[data-build="${BUILD}"]`);
    await expectText(row, '1 failed');
    await checkPage('overview');
    await page.getByLabel('Result').selectOption('passed');
    await page.getByRole('button', { name: 'Filter' }).click();
    await page.getByText('No builds match.').waitFor();
    expect(page.url()).toContain('result=passed');
    await page.getByLabel('Result').selectOption('');
    await page.getByRole('button', { name: 'Filter' }).click();
    await row.waitFor();
  });

  it('goes from the build matrix to the job page with its modules', async () => {
    await page.getByRole('link', { name: `Build ${BUILD}` }).click();
    await page.getByRole('heading', { name: `Build ${BUILD} of busybox demo` }).waitFor();
    const cell = page.getByRole('link', { name: `ui-demo on x86_64 tcg: failed (job ${demoJob})` });
    await checkPage('build');
    await cell.click();
    await page.getByRole('heading', { name: new RegExp(`^Job ${demoJob}:`) }).waitFor();
    for (const m of ['boot_to_shell', 'banner', 'wrong_needle', 'poweroff'])
      await page.locator(`[data-module="${m}"]`).waitFor();
    await expectText(page.locator('[data-module="wrong_needle"] header'), 'failed');
    await checkPage('job');
  });

  it('shows a step with the matched needle drawn, and walks steps by keyboard', async () => {
    await page.getByRole('button', { name: /needle ui-demo-banner-20261121, ok/ }).click();
    const view = page.locator('.stepview');
    await expectText(
      view.locator('[data-match]'),
      'Matched needle ui-demo-banner-20261121 with similarity 100%',
    );
    await view.locator('svg rect.area-match').waitFor();
    await view.locator('img').evaluate((img) => (img as unknown as { decode(): Promise<void> }).decode());
    await checkPage('step-needle');
    await page.keyboard.press('ArrowRight');
    await expectText(page.locator('.stepview h3'), 'wrong_needle, step 1');
    await page.keyboard.press('Escape');
    expect(await page.locator('.stepview').count()).toBe(0);
  });

  it('shows a failed match with its closest candidate side by side and as a difference', async () => {
    await page.getByRole('button', { name: /Step 1 of wrong_needle/ }).click();
    const view = page.locator('.stepview');
    await expectText(view, 'No needle matched the tag(s) ui-demo-wrong');
    await view.getByLabel(/^ui-demo-wrong-20261121: similarity \d+%$/).waitFor();
    await view.getByRole('img', { name: 'Needle ui-demo-wrong-20261121' }).waitFor();
    await view.locator('canvas[data-diff="ui-demo-wrong-20261121"]').waitFor();
    await checkPage('step-candidate');
  });

  it('shows logs and serial output inline, settings and dependencies', async () => {
    await page.getByRole('tab', { name: 'Logs & assets' }).click();
    await expectText(page.locator('pre[data-file="autoinst-log.txt"]'), "assert_screen('ui-demo-wrong')");
    await expectText(page.locator('pre[data-file="serial0.txt"]'), 'kubeqa busybox guest: up');
    await page.getByRole('link', { name: 'video.webm' }).waitFor();
    await checkPage('logs');
    // keyboard: arrow keys move between tabs
    await page.getByRole('tab', { name: 'Logs & assets' }).focus();
    await page.keyboard.press('ArrowRight');
    await expectText(page.locator('#panel-settings'), 'CASEDIR');
    await checkPage('settings');
    await page.keyboard.press('ArrowRight');
    await expectText(page.locator('#panel-dependencies'), 'This job has no dependencies.');
  });

  it('adds a comment that every open page shows at once', async () => {
    const other = await watchedPage(context);
    await other.page.goto(`/tests/${demoJob}?tab=comments`);
    await other.page.getByText('No comments yet.').waitFor();
    await page.getByRole('tab', { name: 'Comments' }).click();
    await page.getByLabel('New comment').fill('bsc#4242: the wrong needle is on purpose');
    await page.getByRole('button', { name: 'Add comment' }).click();
    await other.page.getByText('bsc#4242: the wrong needle is on purpose').waitFor();
    expect(other.errors).toEqual([]);
    await checkPage('comments');
    await other.page.close();
  });

  it('shows the live view of a running job, cancels it and restarts it', async () => {
    const liveJob = await createJob('ui-live', { ...(await guestSettings()), LIVE_SECONDS: '300' });
    const token = await tokenFor(liveJob);
    const abort = new AbortController();
    const push = new LivePush({
      url: server.url,
      jobId: liveJob,
      token,
      encode: (frame) => encodePng(frame, 1),
      serialLog: join(work, 'live', 'serial0.txt'),
      onJobGone: () => abort.abort(),
    });
    const client = new RunnerClient(server.url, liveJob, token);
    await client.call('POST', 'status', { state: 'running', modules: [] });
    const running: Promise<JobResultFile> = runJob({
      settings: { ...(await guestSettings()), CASEDIR, LIVE_SECONDS: '300', NOVIDEO: '1' },
      resultDir: join(work, 'live'),
      signal: abort.signal,
      onMachine: (machine) => push.attach(machine.vnc),
      onProgress: (event) => push.progress(event),
    });
    try {
      await page.goto(`/tests/${liveJob}?tab=live`);
      const viewer = await watchedPage(context);
      await viewer.page.goto(`/tests/${liveJob}?tab=live`);
      // frames arrive as the screen changes: the image is replaced again and again
      const screen = page.getByRole('img', { name: `Live screen of job ${liveJob}` });
      await expectFrames(screen, 3);
      const first = await screen.getAttribute('src');
      await expectFrames(screen, (Number(await screen.getAttribute('data-frames')) || 0) + 2);
      expect(await screen.getAttribute('src')).not.toBe(first);
      // the guest boots under TCG on a busy machine: the ticker module may take minutes to start
      await expectText(page.getByRole('status').filter({ hasText: 'Module' }), 'Module ticker', 300_000);
      await expectText(page.getByLabel('Live serial log'), 'kubeqa busybox guest: up');
      // a second viewer gets the same frames from the server, not from the runner
      await expectFrames(viewer.page.getByRole('img', { name: `Live screen of job ${liveJob}` }), 2);
      const sentBefore = push.framesSent;
      await checkPage('live');
      // cancel from the page: both pages learn it from the event stream, the runner stops
      await page.getByRole('button', { name: 'Cancel job' }).click();
      await page.locator('[data-outcome="user_cancelled"]').waitFor();
      await viewer.page.locator('[data-outcome="user_cancelled"]').waitFor();
      const result = await running;
      expect(result.result).toBe('user_cancelled');
      expect(push.framesSent).toBeGreaterThanOrEqual(sentBefore);
      expect(viewer.errors).toEqual([]);
      // restart: a new job, linked from the old one on every open page
      await page.getByRole('button', { name: 'Restart' }).click();
      const link = page.getByRole('status').getByRole('link', { name: /^job \d+$/ });
      await link.waitFor();
      const clone = Number((await link.textContent())?.replace('job ', ''));
      expect(clone).toBeGreaterThan(liveJob);
      await viewer.page.locator(`a[data-clone="${clone}"]`).waitFor();
      const [row] = await server.database.query<{ state: string; test: string }>(
        'select state, test from jobs where id = $1',
        [clone],
      );
      expect(row).toEqual({ state: 'scheduled', test: 'ui-live' });
      await checkPage('restarted');
      await viewer.page.close();
    } finally {
      abort.abort();
      await running.catch(() => undefined);
      await push.stop();
    }
  }, 600_000);

  it('lists workers, assets and API keys, and edits job templates with validation and preview', async () => {
    await server.api('POST', 'workers', { host: 'node-1', instance: '1', WORKER_CLASS: 'qemu_x86_64' });
    await server.api('POST', 'assets', { type: 'iso', name: 'busybox-1.36.iso', size: '4194304' });
    await page.getByRole('link', { name: 'Workers' }).click();
    await expectText(page.locator('main table'), 'node-1:1');
    await checkPage('workers');
    await page.getByRole('link', { name: 'Assets' }).click();
    await expectText(page.locator('main table'), 'busybox-1.36.iso');
    await expectText(page.locator('main table'), '4.0 MiB');
    await checkPage('assets');
    await server.api('POST', 'machines', { name: 'tcg', backend: 'qemu' });
    await server.api('POST', 'products', {
      distri: 'busybox',
      version: '1.36',
      flavor: 'initrd',
      arch: 'x86_64',
    });
    await server.api('POST', 'test_suites', { name: 'ui-demo' });
    await page.getByRole('link', { name: 'Job groups' }).click();
    await page.getByRole('link', { name: 'busybox demo' }).click();
    const editor = page.getByLabel('Job templates (JobTemplates-01 YAML)');
    await editor.fill(
      'defaults:\n  x86_64: { machine: tcg, priority: 40 }\nproducts:\n  bb: { distri: busybox, flavor: initrd, version: "1.36" }\nscenarios:\n  x86_64:\n    bb:\n      - no-such-suite\n',
    );
    await page.getByRole('button', { name: 'Validate' }).click();
    await expectText(page.getByRole('alert'), 'Invalid:');
    await expectText(page.getByRole('alert'), 'test suite no-such-suite does not exist');
    errors.length = 0; // the refused template is a 400 the browser logs: expected here
    await editor.fill(
      'defaults:\n  x86_64: { machine: tcg, priority: 40 }\nproducts:\n  bb: { distri: busybox, flavor: initrd, version: "1.36" }\nscenarios:\n  x86_64:\n    bb:\n      - ui-demo\n',
    );
    await page.getByRole('button', { name: 'Preview' }).click();
    await expectText(page.getByLabel('Expanded job templates'), 'ui-demo');
    await checkPage('job-group');
    await page.getByRole('button', { name: 'Save' }).click();
    await page.getByText('Saved: 1 job templates.').waitFor();
    const [g] = await server.database.query<{ template: string }>(
      "select template from job_groups where name = 'busybox demo'",
    );
    expect(g?.template).toContain('ui-demo');
    await page.getByRole('link', { name: 'API keys' }).click();
    await page.getByRole('button', { name: 'Create API key' }).click();
    await page
      .getByRole('button', { name: /^Delete key/ })
      .first()
      .waitFor();
    await checkPage('api-keys');
  });

  it('has a dark theme that passes the same checks', async () => {
    await page.getByRole('button', { name: 'Dark theme' }).click();
    expect(await page.evaluate('document.documentElement.dataset.theme')).toBe('dark');
    await page.getByRole('link', { name: 'Tests', exact: true }).click();
    await page.locator(`tr[data-build="${BUILD}"]`).waitFor();
    await checkPage('overview-dark');
    await page.goto(`/tests/${demoJob}`);
    await page.getByRole('button', { name: /Step 1 of wrong_needle/ }).click();
    await page.locator('canvas[data-diff]').waitFor();
    await checkPage('job-dark');
  });
});

async function expectText(
  locator: ReturnType<Page['locator']>,
  text: string,
  timeout = 30_000,
): Promise<void> {
  await locator.filter({ hasText: text }).first().waitFor({ timeout });
}

async function expectFrames(img: ReturnType<Page['locator']>, atLeast: number): Promise<void> {
  const arrived = await waitUntil(
    async () => Number((await img.getAttribute('data-frames')) ?? 0) >= atLeast,
    120_000,
    100,
  );
  expect(arrived, `${atLeast} live frames`).toBe(true);
}
