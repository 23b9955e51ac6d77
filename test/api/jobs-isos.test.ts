// The API on real PostgreSQL: isos post with product expansion, jobs routes, error shape.

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type JobEvent, subscribeJobEvents, UI_EVENTS_CHANNEL } from '../../db/job-events.js';
import { waitUntil } from '../helpers/wait-until.js';
import { type Json, seedTemplates, startServer, type TestServer } from './server.js';

let s: TestServer;
beforeAll(async () => {
  s = await startServer('api_jobs');
  await s.api('POST', 'machines', {
    name: '64bit',
    backend: 'qemu',
    'settings[QEMUCPU]': 'host',
    'settings[WORKER_CLASS]': 'qemu_x86_64',
  });
  await s.api('POST', 'machines', {
    name: 'uefi',
    backend: 'qemu',
    'settings[UEFI]': '1',
    'settings[DESKTOP]': 'machine',
  });
  await s.api('POST', 'products', {
    distri: 'debian',
    version: '12',
    flavor: 'netinst',
    arch: 'x86_64',
    'settings[DESKTOP]': 'product',
    'settings[ISO_LABEL]': '%DISTRI%-%VERSION%',
  });
  await s.api('POST', 'test_suites', {
    name: 'install',
    'settings[DESKTOP]': 'suite',
    'settings[+HDDSIZEGB]': '20',
    'settings[WORKER_CLASS]': 'tap',
  });
  await s.api('POST', 'test_suites', {
    name: 'boot',
    'settings[START_AFTER_TEST]': 'install',
    'settings[HDD_1]': '%DISTRI%-%VERSION%-%ARCH%-%BUILD%.qcow2',
  });
  await s.api('POST', 'test_suites', { name: 'lonely', 'settings[START_AFTER_TEST]': 'nothere' });
  await seedTemplates(
    s,
    `defaults:
  x86_64: { machine: 64bit, priority: 50 }
products:
  debian-12-netinst-x86_64: { distri: debian, flavor: netinst, version: '12' }
scenarios:
  x86_64:
    debian-12-netinst-x86_64:
      - install:
          machine: [64bit, uefi]
          settings: { DESKTOP: template }
      - boot:
          machine: [64bit, uefi]
          priority: 40
      - lonely
`,
  );
});
afterAll(async () => s?.close());

describe('POST /api/v1/isos', () => {
  it('expands products × machines × test suites with precedence, +VAR, %VAR% and dependencies, and publishes events', async () => {
    const events: JobEvent[] = [];
    const stop = await subscribeJobEvents(s.database, (e) => events.push(e));
    const res = await s.api('POST', 'isos', {
      DISTRI: 'debian',
      VERSION: '12',
      FLAVOR: 'netinst',
      ARCH: 'x86_64',
      BUILD: '100',
      ISO: 'debian-12.iso',
      HDDSIZEGB: '40',
    });
    expect(res.status).toBe(200);
    expect(res.body.count).toBe(4);
    expect(res.body.ids).toEqual(res.body.successful_job_ids);
    expect(res.body.failed_job_info).toEqual([
      {
        job_name: 'lonely@64bit',
        error_messages: [
          'START_AFTER_TEST=nothere not found - check for dependency typos and dependency cycles',
        ],
      },
    ]);
    const list = await s.api('GET', 'jobs', { build: '100' });
    const jobs = list.body.jobs as Json[];
    expect(jobs).toHaveLength(4);
    const find = (test: string, machine: string) =>
      jobs.find((j) => j.test === test && j.settings.MACHINE === machine);
    const install64 = find('install', '64bit');
    // template < request? DESKTOP: request did not set it, template wins over suite/machine/product
    expect(install64.settings.DESKTOP).toBe('template');
    // +HDDSIZEGB in the test suite is not overridden by the request
    expect(install64.settings.HDDSIZEGB).toBe('20');
    // WORKER_CLASS from machine and suite are combined
    expect(install64.settings.WORKER_CLASS).toBe('qemu_x86_64,tap');
    expect(install64.settings.ISO_LABEL).toBe('debian-12');
    expect(install64.settings.TEST).toBe('install');
    expect(install64.settings.BACKEND).toBe('qemu');
    expect(install64.assets).toEqual({ iso: ['debian-12.iso'] });
    expect(install64.name).toBe('debian-12-netinst-x86_64-Build100-install@64bit');
    const boot64 = find('boot', '64bit');
    expect(boot64.priority).toBe(40);
    expect(boot64.settings.HDD_1).toBe('debian-12-x86_64-100.qcow2');
    expect(boot64.assets.hdd).toEqual(['debian-12-x86_64-100.qcow2']);
    // dependency on the install job of the same machine
    expect(boot64.parents.Chained).toEqual([install64.id]);
    const bootUefi = find('boot', 'uefi');
    expect(bootUefi.parents.Chained).toEqual([find('install', 'uefi').id]);
    // events are delivered after commit
    await waitUntil(
      () => events.some((e) => e.type === 'job.created' && e.ids.includes(install64.id)),
      10_000,
    );
    expect(events.some((e) => e.type === 'job.created' && e.ids.includes(install64.id))).toBe(true);
    await stop();
  });

  it('filters by TEST (pulling in chained parents unless _SKIP_CHAINED_DEPS) and obsoletes older builds', async () => {
    const first = await s.api('POST', 'isos', {
      DISTRI: 'debian',
      VERSION: '12',
      FLAVOR: 'netinst',
      ARCH: 'x86_64',
      BUILD: '200',
      TEST: 'boot',
    });
    expect(first.body.count).toBe(4); // boot on two machines + their install parents
    const skip = await s.api('POST', 'isos', {
      DISTRI: 'debian',
      VERSION: '12',
      FLAVOR: 'netinst',
      ARCH: 'x86_64',
      BUILD: '201',
      TEST: 'install',
      MACHINE: 'uefi',
    });
    expect(skip.body.count).toBe(1);
    const children = await s.api('POST', 'isos', {
      DISTRI: 'debian',
      VERSION: '12',
      FLAVOR: 'netinst',
      ARCH: 'x86_64',
      BUILD: '202',
      TEST: 'install',
      MACHINE: 'uefi',
      _INCLUDE_CHILDREN: '1',
    });
    expect(children.body.count).toBe(2);
    const obsolete = await s.api('POST', 'isos', {
      DISTRI: 'debian',
      VERSION: '12',
      FLAVOR: 'netinst',
      ARCH: 'x86_64',
      BUILD: '300',
      _OBSOLETE: '1',
    });
    expect(obsolete.body.count).toBe(4);
    const old = await s.api('GET', 'jobs', { build: '200' });
    expect(old.body.jobs.every((j: Json) => j.state === 'cancelled' && j.result === 'obsoleted')).toBe(true);
    const current = await s.api('GET', 'jobs', { build: '300', state: 'scheduled' });
    expect(current.body.jobs).toHaveLength(4);
  });

  it('deprioritizes older builds with _DEPRIORITIZEBUILD and announces each raised priority', async () => {
    const before = await s.api('GET', 'jobs', { build: '300' });
    const announced = new Set<number>();
    const unlisten = await s.database.listen(UI_EVENTS_CHANNEL, (payload) => {
      const event = JSON.parse(payload) as { type: string; id: unknown };
      if (event.type === 'job.priority' && typeof event.id === 'number') announced.add(event.id);
    });
    await s.api('POST', 'isos', {
      DISTRI: 'debian',
      VERSION: '12',
      FLAVOR: 'netinst',
      ARCH: 'x86_64',
      BUILD: '301',
      _DEPRIORITIZEBUILD: '1',
    });
    const after = await s.api('GET', 'jobs', { build: '300' });
    for (const j of after.body.jobs) {
      const was = before.body.jobs.find((b: Json) => b.id === j.id);
      expect(j.priority).toBe(was.priority + 10);
      expect(j.state).toBe('scheduled');
    }
    // the scheduler keeps waiting jobs in memory and re-reads a job when such an event names it
    const raised = after.body.jobs.map((j: Json) => j.id as number);
    expect(raised.length).toBeGreaterThan(0);
    expect(await waitUntil(() => raised.every((id: number) => announced.has(id)), 10_000)).toBe(true);
    await unlisten();
  });

  it('names missing product keys in the error shape', async () => {
    const res = await s.api('POST', 'isos', { DISTRI: 'debian', ARCH: 'x86_64' });
    expect(res.status).toBe(400);
    expect(res.body).toMatchObject({ error: 'missing parameters: VERSION, FLAVOR', error_status: 400 });
  });
});

describe('/api/v1/jobs', () => {
  it('creates a cluster with TEST:suffix and _START_AFTER, restarts it with propagation, cancels and deletes', async () => {
    const created = await s.api('POST', 'jobs', {
      DISTRI: 'debian',
      BUILD: 'c1',
      'TEST:0': 'parent',
      'TEST:1': 'child',
      '_START_AFTER:1': '0',
      WORKER_CLASS: ['a', 'b'],
    });
    expect(created.status).toBe(200);
    const { 0: parent, 1: child } = created.body.ids;
    const got = await s.api('GET', `jobs/${child}`);
    expect(got.body.job.parents.Chained).toEqual([parent]);
    expect(got.body.job.settings.WORKER_CLASS).toBe('a,b');
    const withIso = (await s.api('POST', 'jobs', { TEST: 'iso', ISO: 'x.iso', HDD_1: 'y.qcow2' })).body.id;
    expect((await s.api('GET', `jobs/${withIso}`)).body.job.assets).toEqual({
      hdd: ['y.qcow2'],
      iso: ['x.iso'],
    });
    // a job still waiting to run cannot be restarted
    expect((await s.api('POST', `jobs/${parent}/restart`)).body.error).toContain('is still scheduled');
    // cancelling the parent skips the child
    expect((await s.api('POST', `jobs/${parent}/cancel`)).body.result).toBe(2);
    // restarting the parent restarts the chained child too
    const restarted = await s.api('POST', `jobs/${parent}/restart`, { prio: '10', set: 'FOO=bar' });
    expect(restarted.status).toBe(200);
    const mapping = Object.assign({}, ...restarted.body.result);
    expect(Object.keys(mapping).map(Number).sort()).toEqual([parent, child].sort());
    const newChild = (await s.api('GET', `jobs/${mapping[child]}`)).body.job;
    expect(newChild.parents.Chained).toEqual([mapping[parent]]);
    expect(newChild.priority).toBe(10);
    expect(newChild.settings.FOO).toBe('bar');
    const old = (await s.api('GET', `jobs/${parent}`)).body.job;
    expect(old.clone_id).toBe(mapping[parent]);
    expect(old.result).toBe('user_cancelled');
    // a second restart of the old job is refused
    const again = await s.api('POST', `jobs/${parent}/restart`);
    expect(again.status).toBe(409);
    // cancel the new parent: the child is skipped
    const cancelled = await s.api('POST', `jobs/${mapping[parent]}/cancel`);
    expect(cancelled.body.result).toBe(2);
    const c = (await s.api('GET', `jobs/${mapping[child]}`)).body.job;
    expect([c.state, c.result]).toEqual(['cancelled', 'skipped']);
    expect((await s.api('POST', `jobs/${mapping[child]}/prio`, { prio: '5' })).status).toBe(200);
    expect((await s.api('DELETE', `jobs/${mapping[child]}`)).body).toEqual({ result: 1 });
    expect((await s.api('GET', `jobs/${mapping[child]}`)).status).toBe(404);
  });

  it('lists with filters, limit, offset, latest and ids', async () => {
    const all = await s.api('GET', 'jobs', { distri: 'debian', version: '12' });
    const ids = all.body.jobs.map((j: Json) => j.id);
    expect(ids).toEqual([...ids].sort((a: number, b: number) => b - a));
    const page = await s.api('GET', 'jobs', { distri: 'debian', version: '12', limit: '2', offset: '1' });
    expect(page.body.jobs.map((j: Json) => j.id)).toEqual(ids.slice(1, 3));
    const latest = await s.api('GET', 'jobs', { distri: 'debian', version: '12', latest: '1' });
    const scenarios = new Set(latest.body.jobs.map((j: Json) => `${j.test}@${j.settings.MACHINE}`));
    expect(scenarios.size).toBe(latest.body.jobs.length);
    const byIds = await s.api('GET', 'jobs', { ids: `${ids[0]},${ids[1]}` });
    expect(byIds.body.jobs.map((j: Json) => j.id)).toEqual([ids[0], ids[1]]);
    // the list (built by PostgreSQL) and the single job (built in JavaScript) agree on every field
    for (const listed of all.body.jobs.slice(0, 6)) {
      expect(listed).toEqual((await s.api('GET', `jobs/${listed.id}`)).body.job);
    }
    // pages: a Link header names the next one
    const paged = await fetch(`${s.url}/api/v1/jobs?distri=debian&version=12&limit=2`);
    expect(paged.headers.get('link')).toBe(
      '</api/v1/jobs?distri=debian&version=12&limit=2&offset=2>; rel="next"',
    );
    const last = await fetch(
      `${s.url}/api/v1/jobs?distri=debian&version=12&limit=2&offset=${ids.length - 2}`,
    );
    expect(last.headers.get('link')).toBeNull();
    const bad = await s.api('GET', 'jobs', { state: 'flying' });
    expect(bad.body).toMatchObject({ error: "state 'flying' is not a job state", error_status: 400 });
    const badLimit = await s.api('GET', 'jobs', { limit: 'many' });
    expect(badLimit.status).toBe(400);
    expect(badLimit.body.error).toContain('limit');
  });

  it('records changes as audit events with the user, never reads', async () => {
    await s.api('POST', 'jobs', { TEST: 'audited', SECRET_PASS: 'hunter2' });
    let rows: Json[] = [];
    await waitUntil(async () => {
      rows = await s.database.query(
        "select a.event, a.event_data, u.username from audit_events a join users u on u.id = a.user_id where a.event_data->'params'->>'TEST' = 'audited'",
      );
      return rows.length > 0;
    }, 10_000);
    expect(rows).toEqual([
      {
        event: 'POST /api/v1/jobs',
        username: 'admin',
        event_data: {
          url: '/api/v1/jobs',
          status: 200,
          params: { TEST: 'audited', SECRET_PASS: '[redacted]' },
        },
      },
    ]);
    const reads = await s.database.query(
      "select count(*)::int as n from audit_events where event like 'GET %'",
    );
    expect(reads).toEqual([{ n: 0 }]);
  });

  it('refuses unsigned writes and serves the OpenAPI document', async () => {
    const res = await fetch(`${s.url}/api/v1/jobs`, {
      method: 'POST',
      body: 'TEST=x',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
    });
    expect(res.status).toBe(403);
    expect(await res.json()).toMatchObject({ error: 'authentication required', error_status: 403 });
    const doc = (await (await fetch(`${s.url}/api/v1/openapi.json`)).json()) as Json;
    expect(doc.openapi).toBe('3.1.0');
    expect(Object.keys(doc.paths)).toEqual(
      expect.arrayContaining(['/api/v1/jobs', '/api/v1/isos', '/api/v1/jobs/{id}/restart']),
    );
  });
});
