// The remaining route families on real PostgreSQL: machines/products/test_suites, job groups
// (+ jobs, build_results), job templates and their YAML, workers, assets, comments, and the
// worker-facing runner routes with their per-job token; job state events.
import { createHash } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type JobEvent, SCHEDULER_CHANNEL, subscribeJobEvents } from '../../db/job-events.js';
import { changeJobStates } from '../../db/jobs.js';
import { registerSlots } from '../../db/slots.js';
import { waitUntil } from '../helpers/wait-until.js';
import { type Json, startServer, type TestServer } from './server.js';

let s: TestServer;
beforeAll(async () => {
  s = await startServer('api_routes');
});
afterAll(async () => s?.close());

const YAML = `defaults:
  x86_64: { machine: 64bit, priority: 50, settings: { FROM_DEFAULTS: '1' } }
products:
  deb: { distri: debian, flavor: dvd, version: '12' }
scenarios:
  x86_64:
    deb:
      - smoke
      - smoke_de:
          testsuite: smoke
          machine: [64bit, uefi]
          priority: 20
          settings: { LANG: de }
`;

describe('machines, products, test suites', () => {
  it('create, read (openQA shapes), update, refuse duplicates and missing fields, delete', async () => {
    const m = await s.api('POST', 'machines', {
      name: '64bit',
      backend: 'qemu',
      'settings[QEMURAM]': '2048',
    });
    expect(m.status).toBe(200);
    await s.api('POST', 'machines', { name: 'uefi', backend: 'qemu' });
    const got = await s.api('GET', `machines/${m.body.id}`);
    expect(got.body.Machines[0]).toMatchObject({
      name: '64bit',
      backend: 'qemu',
      settings: [{ key: 'QEMURAM', value: '2048' }],
    });
    expect((await s.api('POST', 'machines', { name: '64bit', backend: 'qemu' })).status).toBe(409);
    expect((await s.api('POST', 'machines', { backend: 'qemu' })).body).toMatchObject({
      error: 'missing parameter: name',
      error_status: 400,
    });
    expect(
      (await s.api('PUT', `machines/${m.body.id}`, {}, { backend: 'qemu', settings: { QEMURAM: '4096' } }))
        .status,
    ).toBe(200);
    expect((await s.api('GET', 'machines', { name: '64bit' })).body.Machines[0].settings).toEqual([
      { key: 'QEMURAM', value: '4096' },
    ]);
    const p = await s.api('POST', 'products', {
      distri: 'debian',
      version: '12',
      flavor: 'dvd',
      arch: 'x86_64',
    });
    expect((await s.api('GET', `products/${p.body.id}`)).body.Products[0]).toMatchObject({
      distri: 'debian',
      flavor: 'dvd',
    });
    await s.api('POST', 'test_suites', { name: 'smoke', description: 'quick' });
    expect((await s.api('GET', 'test_suites')).body.TestSuites.map((t: Json) => t.name)).toEqual(['smoke']);
    const gone = await s.api('POST', 'test_suites', { name: 'gone' });
    expect((await s.api('DELETE', `test_suites/${gone.body.id}`)).body).toEqual({ result: 1 });
    expect((await s.api('GET', `test_suites/${gone.body.id}`)).status).toBe(404);
  });
});

describe('job groups and templates', () => {
  let groupId: number;
  it('sets templates from YAML with preview and expand, refuses bad YAML naming the problem', async () => {
    groupId = (await s.api('POST', 'job_groups', { name: 'Debian 12', default_priority: '45' })).body.id;
    const preview = await s.api(
      'POST',
      `job_templates_scheduling/${groupId}`,
      { preview: '1', expand: '1' },
      { template: YAML },
    );
    expect(preview.body).toMatchObject({ id: groupId, preview: 1, count: 3 });
    expect(preview.body.result).toContain('smoke_de');
    expect((await s.api('GET', 'job_templates', { group_id: String(groupId) })).body.JobTemplates).toEqual(
      [],
    );
    const saved = await s.api('POST', `job_templates_scheduling/${groupId}`, {}, { template: YAML });
    expect(saved.status).toBe(200);
    const list = (await s.api('GET', 'job_templates', { group_id: String(groupId) })).body.JobTemplates;
    expect(list.map((t: Json) => [t.name, t.machine.name, t.test_suite.name, t.prio])).toEqual([
      ['', '64bit', 'smoke', 50],
      ['smoke_de', '64bit', 'smoke', 20],
      ['smoke_de', 'uefi', 'smoke', 20],
    ]);
    const yaml = await s.api('GET', `job_templates_scheduling/${groupId}`);
    expect(yaml.body).toBe(YAML);
    const bad = await s.api(
      'POST',
      `job_templates_scheduling/${groupId}`,
      {},
      { template: YAML.replace('machine: 64bit', 'machine: 128bit') },
    );
    expect(bad.status).toBe(400);
    expect(bad.body.error).toContain('machine 128bit does not exist');
    const syntax = await s.api(
      'POST',
      `job_templates_scheduling/${groupId}`,
      {},
      { template: 'products: [' },
    );
    expect(syntax.body.error).toMatch(/^YAML syntax/);
    const stale = await s.api(
      'POST',
      `job_templates_scheduling/${groupId}`,
      {},
      { template: YAML, reference: 'old' },
    );
    expect(stale.status).toBe(409);
  });

  it('expands the templates on an isos post and reports build results and group jobs', async () => {
    const posted = await s.api('POST', 'isos', {
      DISTRI: 'debian',
      VERSION: '12',
      FLAVOR: 'dvd',
      ARCH: 'x86_64',
      BUILD: '7',
    });
    expect(posted.body.count).toBe(3);
    const jobs = (await s.api('GET', 'jobs', { build: '7' })).body.jobs;
    const de = jobs.find((j: Json) => j.test === 'smoke_de' && j.settings.MACHINE === 'uefi');
    expect(de.settings).toMatchObject({ LANG: 'de', FROM_DEFAULTS: '1', TEST_SUITE_NAME: 'smoke' });
    expect(de.group).toBe('Debian 12');
    const smoke = jobs.find((j: Json) => j.test === 'smoke');
    expect(smoke.priority).toBe(50);
    expect(smoke.settings.QEMURAM).toBe('4096');
    const scheduled = await s.api('GET', `isos/${posted.body.scheduled_product_id}`);
    expect(scheduled.body).toMatchObject({ status: 'scheduled', build: '7', job_ids: posted.body.ids });
    expect((await s.api('GET', `job_groups/${groupId}/jobs`)).body.ids).toEqual(
      [...posted.body.ids].sort((a, b) => a - b),
    );
    await s.api('POST', `jobs/${smoke.id}/cancel`);
    const results = (await s.api('GET', `job_groups/${groupId}/build_results`)).body.build_results;
    expect(results[0]).toMatchObject({ build: '7', total: 3, scheduled: 2, skipped: 1 });
    const cancel = await s.api('POST', `isos/${posted.body.scheduled_product_id}/cancel`);
    expect(cancel.body.result).toBe(2);
    expect((await s.api('DELETE', `job_groups/${groupId}`)).status).toBe(409);
  });
});

describe('parent groups', () => {
  it('create, nest a job group, rename, refuse duplicates, delete', async () => {
    const parent = await s.api('POST', 'parent_groups', { name: 'Debian', sort_order: '1' });
    expect(parent.status).toBe(200);
    const group = await s.api('POST', 'job_groups', {
      name: 'Debian testing',
      parent_id: String(parent.body.id),
    });
    expect((await s.api('GET', `job_groups/${group.body.id}`)).body[0].parent_id).toBe(parent.body.id);
    expect((await s.api('POST', 'parent_groups', { name: 'Debian' })).status).toBe(409);
    await s.api('PUT', `parent_groups/${parent.body.id}`, { name: 'Debian GNU/Linux' });
    expect((await s.api('GET', `parent_groups/${parent.body.id}`)).body[0].name).toBe('Debian GNU/Linux');
    expect((await s.api('DELETE', `parent_groups/${parent.body.id}`)).status).toBe(200);
    expect((await s.api('GET', `job_groups/${group.body.id}`)).body[0].parent_id).toBeNull();
    expect((await s.api('POST', 'job_groups', { name: 'orphan', parent_id: '999' })).body.error).toBe(
      'parent_id is not a parent group',
    );
  });
});

describe('workers, assets, comments', () => {
  it('registers and lists workers', async () => {
    const w = await s.api('POST', 'workers', {
      host: 'node1',
      instance: '1',
      cpu_arch: 'x86_64',
      worker_class: 'qemu_x86_64',
    });
    const again = await s.api('POST', 'workers', {
      host: 'node1',
      instance: '1',
      cpu_arch: 'x86_64',
      worker_class: 'qemu_x86_64,tap',
    });
    expect(again.body.id).toBe(w.body.id);
    const got = (await s.api('GET', `workers/${w.body.id}`)).body.worker;
    expect(got).toMatchObject({
      name: 'node1:1',
      alive: 1,
      properties: { WORKER_CLASS: 'qemu_x86_64,tap', CPU_ARCH: 'x86_64' },
    });
    expect((await s.api('GET', 'workers')).body.workers).toHaveLength(1);
    expect((await s.api('POST', 'workers', { host: 'node1' })).body.error).toContain('instance');
    expect((await s.api('DELETE', `workers/${w.body.id}`)).status).toBe(200);
  });

  it('registers assets, finds them by id and by type/name, refuses bad names', async () => {
    const a = await s.api('POST', 'assets', { type: 'iso', name: 'debian-12.iso', size: '1024' });
    expect((await s.api('GET', `assets/${a.body.id}`)).body).toMatchObject({
      type: 'iso',
      name: 'debian-12.iso',
      size: 1024,
    });
    expect((await s.api('GET', 'assets/iso/debian-12.iso')).body.id).toBe(a.body.id);
    expect((await s.api('POST', 'assets', { type: 'iso', name: '../etc/passwd' })).status).toBe(400);
    expect((await s.api('POST', 'assets', { type: 'floppy', name: 'x' })).body.error).toContain(
      'type must be one of iso, hdd, repo, other',
    );
    expect((await s.api('DELETE', `assets/${a.body.id}`)).body).toEqual({ count: 1 });
  });

  it('comments on a job', async () => {
    const job = (await s.api('POST', 'jobs', { TEST: 'commented' })).body.id;
    const c = await s.api('POST', `jobs/${job}/comments`, { text: 'looks flaky' });
    await s.api('PUT', `jobs/${job}/comments/${c.body.id}`, { text: 'is flaky' });
    const list = await s.api('GET', `jobs/${job}/comments`);
    expect(list.body).toEqual([
      expect.objectContaining({ id: c.body.id, text: 'is flaky', userName: 'admin' }),
    ]);
    expect((await s.api('POST', `jobs/${job}/comments`, { text: ' ' })).body.error).toBe(
      'missing parameter: text',
    );
    expect((await s.api('DELETE', `jobs/${job}/comments/${c.body.id}`)).status).toBe(200);
  });
});

describe('runner routes (per-job token)', () => {
  it('reports module status, uploads artefacts once per hash, finishes the job, publishes state events', async () => {
    const events: JobEvent[] = [];
    const stop = await subscribeJobEvents(s.database, (e) => events.push(e));
    const wakeups: string[] = [];
    const stopWakeups = await s.database.listen(SCHEDULER_CHANNEL, (p) => wakeups.push(p));
    const job = (await s.api('POST', 'jobs', { TEST: 'runme' })).body.id;
    const other = (await s.api('POST', 'jobs', { TEST: 'other' })).body.id;
    const { token } = (await s.api('POST', `jobs/${job}/token`)).body;
    // a scheduled job has no runner yet: its reports are refused
    const early = await fetch(`${s.url}/api/v1/jobs/${job}/status`, {
      method: 'POST',
      headers: { 'x-kubeqa-job-token': token, 'content-type': 'application/json' },
      body: JSON.stringify({ modules: [] }),
    });
    expect(early.status).toBe(409);
    expect(((await early.json()) as { error: string }).error).toContain('is scheduled');
    // as the scheduler does when it hands the job to a slot
    await registerSlots(s.database.query, [{ id: 'routes-slot', pool: 'local', classes: [] }]);
    await s.database.transaction(async (q) => {
      await q("update jobs set slot_id = 'routes-slot', sequence_index = 0 where id = $1", [job]);
      await changeJobStates(q, [{ id: job, state: 'assigned' }], 'scheduler');
    });
    // the workers list shows the scheduler's slots by pool, with the job each one holds
    expect((await s.api('GET', 'workers')).body.slots).toEqual([
      expect.objectContaining({ id: 'routes-slot', pool: 'local', classes: [], alive: 1, jobs: [job] }),
    ]);
    const runner = (
      method: string,
      path: string,
      body?: unknown,
      contentType = 'application/json',
      t = token,
    ) =>
      fetch(`${s.url}/api/v1/jobs/${path}`, {
        method,
        headers: { 'x-kubeqa-job-token': t, ...(body !== undefined ? { 'content-type': contentType } : {}) },
        body: body === undefined ? undefined : Buffer.isBuffer(body) ? body : JSON.stringify(body),
      }).then(async (r) => ({ status: r.status, body: (await r.json()) as Json }));

    const png = Buffer.from('not really a png, but bytes');
    const hash = createHash('sha256').update(png).digest('hex');
    expect((await runner('POST', `${job}/artefacts`, { name: 'boot-1.png', hash })).body).toMatchObject({
      need_upload: true,
      error_status: 404,
    });
    const up = await runner('PUT', `${job}/artefacts/boot-1.png`, png, 'application/octet-stream');
    expect(up.body).toEqual({ hash, uploaded: true, linked: true });
    const again = await runner('PUT', `${job}/artefacts/boot-2.png`, png, 'application/octet-stream');
    const download = await fetch(`${s.url}/api/v1/jobs/${job}/artefacts/boot-2.png`);
    expect(download.headers.get('content-type')).toBe('image/png');
    expect(Buffer.from(await download.arrayBuffer()).equals(png)).toBe(true);
    expect(again.body.uploaded).toBe(false);
    expect((await runner('POST', `${job}/artefacts`, { name: 'boot-3.png', hash })).body).toEqual({
      linked: true,
      uploaded: false,
    });
    expect((await runner('PUT', `${job}/artefacts/..%2Fx`, png, 'application/octet-stream')).status).toBe(
      400,
    );

    // in setup the runner says why it waits (its assets); the job shows it
    const waiting = await runner('POST', `${job}/status`, {
      state: 'setup',
      reason: 'waiting for assets: iso/x.iso: importing, 25 %',
      modules: [],
    });
    expect(waiting.status).toBe(200);
    expect((await s.api('GET', `jobs/${job}`)).body.job.reason).toBe(
      'waiting for assets: iso/x.iso: importing, 25 %',
    );
    const status = await runner('POST', `${job}/status`, {
      modules: [
        {
          name: 'boot',
          category: 'install',
          result: 'passed',
          milestone: true,
          steps: [
            { num: 1, kind: 'screen', result: 'ok', needle: 'boot-menu', similarity: 0.98, screenshot: hash },
          ],
        },
        { name: 'login', result: 'running' },
      ],
    });
    expect(status.status).toBe(200);
    expect(
      (await runner('POST', `${job}/status`, { modules: [{ name: 'x', result: 'maybe' }] })).body.error,
    ).toContain('result');
    expect((await runner('POST', `${other}/status`, { modules: [] })).status).toBe(403);
    expect(
      (await runner('POST', `${job}/status`, { modules: [] }, 'application/json', 'wrong')).body.error,
    ).toBe(`no valid job token for job ${job}`);
    const details = (await s.api('GET', `jobs/${job}/details`)).body.job;
    expect(details.state).toBe('running');
    expect(details.t_started).not.toBeNull();
    expect(details.testresults).toEqual([
      expect.objectContaining({
        name: 'boot',
        result: 'passed',
        flags: ['milestone'],
        details: [expect.objectContaining({ num: 1, needle: 'boot-menu', screenshot: hash })],
      }),
      expect.objectContaining({ name: 'login', result: 'running', details: [] }),
    ]);
    expect((await runner('POST', `${job}/set_done?result=passed`)).body).toEqual({ result: 1 });
    expect((await runner('POST', `${job}/set_done?result=passed`)).status).toBe(409);
    const done = (await s.api('GET', `jobs/${job}`)).body.job;
    expect([done.state, done.result]).toEqual(['done', 'passed']);
    const wanted = (e: JobEvent) => e.type === 'job.state' && e.id === job && e.state === 'done';
    await waitUntil(() => events.some(wanted), 10_000);
    expect(
      events.filter((e) => e.type === 'job.state' && e.id === job).map((e) => (e as { state: string }).state),
    ).toEqual(['assigned', 'setup', 'running', 'done']);
    // the transitions are audited, the job is flagged for the scheduler's follow-up, the scheduler is woken
    const changes = await s.database.query(
      'select from_state, from_result, to_state, to_result, by from job_state_changes where job_id = $1 order by id',
      [job],
    );
    expect(changes).toEqual([
      {
        from_state: 'scheduled',
        from_result: 'none',
        to_state: 'assigned',
        to_result: 'none',
        by: 'scheduler',
      },
      { from_state: 'assigned', from_result: 'none', to_state: 'setup', to_result: 'none', by: 'runner' },
      { from_state: 'setup', from_result: 'none', to_state: 'running', to_result: 'none', by: 'runner' },
      { from_state: 'running', from_result: 'none', to_state: 'done', to_result: 'passed', by: 'runner' },
    ]);
    expect(await s.database.query('select follow_up from jobs where id = $1', [job])).toEqual([
      { follow_up: true },
    ]);
    await waitUntil(() => wakeups.includes('job-finished'), 10_000);
    expect(wakeups).toEqual(expect.arrayContaining(['job-created', 'job-changed', 'job-finished']));
    await stopWakeups();
    await stop();
  });
});
