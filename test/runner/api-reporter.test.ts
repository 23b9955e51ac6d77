// The runner's API reporter against the real API on real PostgreSQL, through a real HTTP relay
// that records requests and injects failures: states and per-module progress land in the
// database, result files are uploaded once per content (linked by hash afterwards), 5xx and
// dropped connections are retried, a cancelled job answers 409 and stops the reporter, and the
// token never shows in a log line or an error.
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { changeJobStates } from '../../db/jobs.js';
import { issueJobToken } from '../../db/results.js';
import type { JobResultFile, ModuleResultFile } from '../../domain/runner/results.js';
import { ApiReporter, JobStopped } from '../../worker-image/runner/api-reporter.js';
import { type Json, startServer, type TestServer } from '../api/server.js';
import { type HttpRelay, startRelay } from './http-relay.js';

let s: TestServer;
let relay: HttpRelay;
const work = mkdtempSync(join(tmpdir(), 'kubeqa-reporter-test-'));
const FAST = { baseDelayMs: 20, maxDelayMs: 100, budgetMs: 5000 };

beforeAll(async () => {
  s = await startServer('runner_reporter');
  relay = await startRelay(s.url);
});
afterAll(async () => {
  await relay.close();
  await s.close();
  rmSync(work, { recursive: true, force: true });
});

/** A job as the scheduler leaves it for a runner: assigned, with a fresh token. */
async function assignedJob(test: string): Promise<{ id: number; token: string }> {
  const created = await s.api('POST', 'jobs', { TEST: test, DISTRI: 'demo', ARCH: 'x86_64' });
  const id = created.body.id as number;
  await s.database.transaction((q) => changeJobStates(q, [{ id, state: 'assigned' }], 'scheduler'));
  return { id, token: await issueJobToken(s.database.query, id) };
}

/** A result directory in os-autoinst's layout, as runJob leaves it after two modules. */
function resultDir(name: string, screenshot: Buffer): string {
  const dir = join(work, name);
  mkdirSync(join(dir, 'testresults'), { recursive: true });
  mkdirSync(join(dir, 'ulogs'), { recursive: true });
  writeFileSync(
    join(dir, 'testresults', 'test_order.json'),
    JSON.stringify([
      {
        name: 'boot',
        category: 'boot',
        script: 'tests/boot/boot.ts',
        flags: { fatal: true, milestone: true },
      },
      { name: 'shell', category: 'console', script: 'tests/console/shell.ts', flags: {} },
    ]),
  );
  writeFileSync(join(dir, 'testresults', 'boot-1.png'), screenshot);
  writeFileSync(join(dir, 'testresults', 'boot-2.txt'), 'login: ok\n');
  // the distribution's needles (outside the result directory), named by the steps
  const needles = join(work, `${name}-needles`);
  mkdirSync(needles, { recursive: true });
  for (const needle of ['boot-prompt', 'boot-menu']) {
    writeFileSync(join(needles, `${needle}.json`), JSON.stringify({ tags: [needle], area: [] }));
    writeFileSync(join(needles, `${needle}.png`), Buffer.from(`png-of-${needle}`));
  }
  const boot: ModuleResultFile = {
    details: [
      {
        result: 'ok',
        screenshot: 'boot-1.png',
        needle: 'boot-prompt',
        json: join(needles, 'boot-prompt.json'),
        area: [{ x: 1, y: 2, w: 3, h: 4, similarity: 97, result: 'ok' }],
        needles: [{ name: 'boot-menu', json: join(needles, 'boot-menu.json'), error: 0.4, area: [] }],
      },
      { result: 'ok', title: 'wait_serial', text: 'boot-2.txt' },
    ],
    result: 'ok',
    dents: 0,
    execution_time: 3,
  };
  writeFileSync(join(dir, 'testresults', 'result-boot.json'), JSON.stringify(boot));
  const shell: ModuleResultFile = {
    details: [{ result: 'ok', screenshot: 'boot-1.png' }],
    result: 'ok',
    dents: 0,
    execution_time: 1,
  };
  writeFileSync(join(dir, 'testresults', 'result-shell.json'), JSON.stringify(shell));
  writeFileSync(join(dir, 'serial0.txt'), 'kubeqa serial log\n');
  writeFileSync(join(dir, 'autoinst-log.txt'), 'log\n');
  writeFileSync(join(dir, 'ulogs', 'hello'), 'kubeqa\n');
  writeFileSync(join(dir, 'qemu.pid'), '123\n'); // QEMU's own file: not a result
  return dir;
}

const passed: JobResultFile = {
  result: 'passed',
  modules: [
    { name: 'boot', category: 'boot', result: 'ok', flags: { fatal: true, milestone: true } },
    { name: 'shell', category: 'console', result: 'ok', flags: {} },
  ],
  started: new Date().toISOString(),
  finished: new Date().toISOString(),
};

async function job(id: number): Promise<Json> {
  return (await s.api('GET', `jobs/${id}/details`)).body.job;
}

describe('ApiReporter', () => {
  it('reports setup, running with per-module progress, uploading, the files and set_done', async () => {
    const { id, token } = await assignedJob('reporter-full');
    const dir = resultDir('full', Buffer.from('png-bytes-one'));
    const logs: string[] = [];
    const reporter = new ApiReporter({
      apiUrl: relay.url,
      jobId: id,
      token,
      resultDir: dir,
      retry: FAST,
      log: (l) => logs.push(l),
    });
    await reporter.setState('setup');
    expect((await job(id)).state).toBe('setup');

    reporter.onProgress({ type: 'module-start', name: 'boot', category: 'boot', index: 0, total: 2 });
    await reporter.settled();
    let details = await job(id);
    expect(details.state).toBe('running');
    expect(details.testresults.map((m: Json) => [m.name, m.result])).toEqual([
      ['boot', 'running'],
      ['shell', 'none'],
    ]);
    expect(details.testresults[0].flags).toEqual(expect.arrayContaining(['milestone', 'fatal']));

    reporter.onProgress({ type: 'module-end', name: 'boot', result: 'ok', seconds: 3 });
    await reporter.settled();
    details = await job(id);
    const boot = details.testresults[0];
    expect(boot.result).toBe('passed');
    expect(boot.details.map((d: Json) => d.type)).toEqual(['screen', 'serial']);
    expect(boot.details[0].needle).toBe('boot-prompt');
    expect(boot.details[0].similarity).toBe(97);
    expect(boot.details[0].screenshot).toMatch(/^[0-9a-f]{64}$/);
    expect(boot.details[1].text).toBe('login: ok\n');
    // the matched needle and the candidate are there for the step view
    for (const needle of ['boot-prompt', 'boot-menu']) {
      const png = await fetch(`${s.url}/api/v1/jobs/${id}/artefacts/needles/${needle}.png`);
      expect(Buffer.from(await png.arrayBuffer()).toString()).toBe(`png-of-${needle}`);
      const json = await fetch(`${s.url}/api/v1/jobs/${id}/artefacts/needles/${needle}.json`);
      expect(((await json.json()) as { tags: string[] }).tags).toEqual([needle]);
    }

    reporter.onProgress({ type: 'module-start', name: 'shell', category: 'console', index: 1, total: 2 });
    reporter.onProgress({ type: 'module-end', name: 'shell', result: 'ok', seconds: 1 });
    await reporter.finish(passed);
    details = await job(id);
    expect(details.state).toBe('done');
    expect(details.result).toBe('passed');
    expect(details.testresults.map((m: Json) => m.result)).toEqual(['passed', 'passed']);

    const serial = await fetch(`${s.url}/api/v1/jobs/${id}/artefacts/serial0.txt`);
    expect(await serial.text()).toBe('kubeqa serial log\n');
    const shot = await fetch(`${s.url}/api/v1/jobs/${id}/artefacts/testresults/boot-1.png`);
    expect(shot.headers.get('content-type')).toBe('image/png');
    expect(await shot.text()).toBe('png-bytes-one');
    expect((await fetch(`${s.url}/api/v1/jobs/${id}/artefacts/ulogs/hello`)).status).toBe(200);
    expect((await fetch(`${s.url}/api/v1/jobs/${id}/artefacts/qemu.pid`)).status).toBe(404);

    const states = await s.database.query<{ from_state: string; to_state: string }>(
      'select from_state, to_state from job_state_changes where job_id = $1 order by id',
      [id],
    );
    expect(states.map((r) => `${r.from_state}>${r.to_state}`)).toEqual([
      'scheduled>assigned',
      'assigned>setup',
      'setup>running',
      'running>uploading',
      'uploading>done',
    ]);
    // the screenshot was sent once, though two modules and the final upload name it
    const puts = relay.requests.filter(
      (r) => r.method === 'PUT' && r.path === `/api/v1/jobs/${id}/artefacts/testresults/boot-1.png`,
    );
    expect(puts).toHaveLength(1);
    expect(logs.join('\n')).not.toContain(token);
  });

  it('links content the server already has by hash instead of sending it again', async () => {
    const { id, token } = await assignedJob('reporter-dedup');
    const dir = resultDir('dedup', Buffer.from('png-bytes-one')); // same bytes as the first job
    writeFileSync(join(dir, 'serial0.txt'), 'a serial log no job had before\n');
    const reporter = new ApiReporter({ apiUrl: relay.url, jobId: id, token, resultDir: dir, retry: FAST });
    await reporter.setState('setup');
    reporter.onProgress({ type: 'module-start', name: 'boot', category: 'boot', index: 0, total: 2 });
    reporter.onProgress({ type: 'module-end', name: 'boot', result: 'ok', seconds: 3 });
    await reporter.finish({ ...passed, modules: passed.modules.slice(0, 1) });
    const mine = relay.requests.filter((r) => r.path.startsWith(`/api/v1/jobs/${id}/artefacts`));
    const linkedShot = mine.filter((r) => r.method === 'POST');
    expect(linkedShot.length).toBeGreaterThan(0);
    expect(mine.some((r) => r.method === 'PUT' && r.path.endsWith('boot-1.png'))).toBe(false);
    // a file the server did not have was sent (404 on the link, then PUT)
    expect(mine.some((r) => r.method === 'POST' && r.outcome === 404)).toBe(true);
    const shot = await fetch(`${s.url}/api/v1/jobs/${id}/artefacts/testresults/boot-1.png`);
    expect(await shot.text()).toBe('png-bytes-one');
  });

  it('retries 5xx answers and dropped connections, then succeeds', async () => {
    const { id, token } = await assignedJob('reporter-retry');
    const dir = resultDir('retry', Buffer.from('png-bytes-retry'));
    const logs: string[] = [];
    const reporter = new ApiReporter({
      apiUrl: `${relay.url}/api/v1`,
      jobId: id,
      token,
      resultDir: dir,
      retry: FAST,
      log: (l) => logs.push(l),
    });
    relay.failNext(1, 503);
    relay.failNext(1, 'drop');
    relay.failNext(1, 502);
    await reporter.setState('setup');
    expect((await job(id)).state).toBe('setup');
    const attempts = relay.requests.filter((r) => r.path === `/api/v1/jobs/${id}/status`);
    expect(attempts.map((r) => r.outcome)).toEqual([503, 'dropped', 502, 200]);
    expect(logs.filter((l) => l.includes('retrying'))).toHaveLength(3);
    expect(logs.join('\n')).not.toContain(token);
  });

  it('gives up after its time budget with a clear error', async () => {
    const { id, token } = await assignedJob('reporter-give-up');
    const reporter = new ApiReporter({
      apiUrl: relay.url,
      jobId: id,
      token,
      resultDir: join(work, 'none'),
      retry: { baseDelayMs: 10, maxDelayMs: 20, budgetMs: 60 },
    });
    relay.failNext(50, 503);
    await expect(reporter.setState('setup')).rejects.toThrow(/failed \d+ times \(HTTP 503/);
    relay.clearFailures();
  });

  it('stops on 409 when the job was cancelled, and says so once', async () => {
    const { id, token } = await assignedJob('reporter-cancelled');
    const dir = resultDir('cancelled', Buffer.from('png-bytes-cancel'));
    const stops: JobStopped[] = [];
    const reporter = new ApiReporter({
      apiUrl: relay.url,
      jobId: id,
      token,
      resultDir: dir,
      retry: FAST,
      onStopped: (e) => stops.push(e),
    });
    await reporter.setState('setup');
    expect((await s.api('POST', `jobs/${id}/cancel`)).status).toBe(200);
    reporter.onProgress({ type: 'module-start', name: 'boot', category: 'boot', index: 0, total: 2 });
    await expect(reporter.settled()).rejects.toBeInstanceOf(JobStopped);
    reporter.onProgress({ type: 'module-end', name: 'boot', result: 'ok', seconds: 1 });
    await expect(reporter.finish(passed)).rejects.toBeInstanceOf(JobStopped);
    expect(stops).toHaveLength(1);
    expect(stops[0]?.message).toMatch(/cancelled/);
    const details = await job(id);
    expect([details.state, details.result]).toEqual(['cancelled', 'user_cancelled']);
  });

  it('refuses a wrong token without showing it', async () => {
    const { id } = await assignedJob('reporter-bad-token');
    const wrong = 'not-the-token-0123456789';
    const reporter = new ApiReporter({
      apiUrl: relay.url,
      jobId: id,
      token: wrong,
      resultDir: work,
      retry: FAST,
    });
    const error = await reporter.setState('setup').catch((e: Error) => e);
    expect(error).toMatchObject({ code: 'KQ_ERR_UNAUTHORIZED' });
    expect((error as Error).message).not.toContain(wrong);
    expect(() => new ApiReporter({ apiUrl: relay.url, jobId: id, token: '', resultDir: work })).toThrow(
      /KUBEQA_JOB_TOKEN/,
    );
  });
});
