// The same schema and API on the embedded PostgreSQL (PGlite): migrations, an isos post with
// dependencies, the job list, a restart, and job events over PGlite's LISTEN/NOTIFY.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type JobEvent, subscribeJobEvents } from '../../db/job-events.js';
import { waitUntil } from '../helpers/wait-until.js';
import { seedTemplates, startServer, type TestServer } from './server.js';

let s: TestServer;
beforeAll(async () => {
  s = await startServer('unused', 'pglite');
  await s.api('POST', 'machines', { name: '64bit', backend: 'qemu' });
  await s.api('POST', 'products', {
    distri: 'debian',
    version: '*',
    flavor: 'netinst',
    arch: 'x86_64',
    'settings[A]': '%VERSION%',
  });
  await s.api('POST', 'test_suites', { name: 'install' });
  await s.api('POST', 'test_suites', { name: 'boot', 'settings[START_AFTER_TEST]': 'install' });
  await seedTemplates(
    s,
    `defaults:
  x86_64: { machine: 64bit, priority: 50 }
products:
  deb: { distri: debian, flavor: netinst }
scenarios:
  x86_64:
    deb: [install, boot]
`,
  );
});
afterAll(async () => s?.close());

describe('API on PGlite', () => {
  it('posts isos, lists, restarts, and publishes events', async () => {
    expect(s.database.kind).toBe('pglite');
    const events: JobEvent[] = [];
    const stop = await subscribeJobEvents(s.database, (e) => events.push(e));
    const posted = await s.api('POST', 'isos', {
      DISTRI: 'debian',
      VERSION: '13',
      FLAVOR: 'netinst',
      ARCH: 'x86_64',
      BUILD: '1',
    });
    expect(posted.body.count).toBe(2);
    const jobs = (await s.api('GET', 'jobs', { build: '1' })).body.jobs;
    const [boot, install] = jobs;
    expect(boot.test).toBe('boot');
    expect(boot.parents.Chained).toEqual([install.id]);
    expect(boot.settings.A).toBe('13');
    expect((await s.api('POST', `jobs/${install.id}/cancel`)).body.result).toBe(2);
    const restarted = await s.api('POST', `jobs/${install.id}/restart`);
    expect(restarted.body.result).toHaveLength(2);
    const created = () => events.filter((e) => e.type === 'job.created').length;
    await waitUntil(() => created() >= 2, 10_000);
    expect(created()).toBe(2);
    expect(
      events.some((e) => e.type === 'job.state' && e.id === install.id && e.result === 'user_cancelled'),
    ).toBe(true);
    await stop();
  });
});
