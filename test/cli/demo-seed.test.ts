// The demo of `kubeqa up` (config/demo/demo.yaml) seeded through the real API on real PostgreSQL:
// once only, and what it loads schedules the demo build with the demo's assets and settings.
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type ApiCall, readDemoConfig, seedDemo } from '../../db/demo-seed.js';
import { BUSYBOX_APPEND } from '../../examples/busybox/build-guest.js';
import { packageRoot } from '../../runtime/package-root.js';
import { type Json, startServer, type TestServer } from '../api/server.js';

let s: TestServer;
beforeAll(async () => {
  s = await startServer('demo_seed');
});
afterAll(async () => {
  await s.close();
});

const config = readDemoConfig(join(packageRoot(), 'config', 'demo', 'demo.yaml'));

describe('demo seed', () => {
  it('loads the demo once and schedules the demo build from it', async () => {
    const calls: string[] = [];
    const api: ApiCall = (method, path, params, body) => {
      calls.push(`${method} ${path}`);
      return s.api(method, path, params, body);
    };
    expect(await seedDemo(s.database.query, api, config)).toBe(true);
    const made = calls.length;
    expect(await seedDemo(s.database.query, api, config)).toBe(false);
    expect(calls).toHaveLength(made);

    const machines = (await s.api('GET', 'machines')).body.Machines;
    expect(machines.map((m: Json) => m.name)).toEqual(['64bit']);
    const products = (await s.api('GET', 'products')).body.Products;
    expect(products.map((p: Json) => p.distri).sort()).toEqual(['busybox', 'debian-installer']);

    const posted = await s.api('POST', 'isos', {
      DISTRI: 'busybox',
      VERSION: '1',
      FLAVOR: 'initramfs',
      ARCH: 'x86_64',
      BUILD: '7',
    });
    expect(posted.body.count).toBe(1);
    const job = (await s.api('GET', `jobs/${posted.body.ids[0]}`)).body.job;
    expect(job.test).toBe('busybox');
    expect(job.settings).toMatchObject({
      DISTRI: 'busybox',
      KERNEL: 'debian-12-netboot-linux',
      INITRD: 'busybox-initrd.gz',
      APPEND: BUSYBOX_APPEND,
      WORKER_CLASS: 'qemu_x86_64',
      MACHINE: '64bit',
    });
    const installer = await s.api('POST', 'isos', {
      DISTRI: 'debian-installer',
      VERSION: '12',
      FLAVOR: 'netboot',
      ARCH: 'x86_64',
      BUILD: '7',
    });
    expect(installer.body.count).toBe(1);
    const d = (await s.api('GET', `jobs/${installer.body.ids[0]}`)).body.job;
    expect(d.settings).toMatchObject({ TEST: 'installer', NOVIDEO: '1', QEMURAM: '1024' });
  });

  it('keeps what exists when an earlier seed stopped half way', async () => {
    await s.database.query("delete from kubeqa_meta where key = 'demo_seeded'");
    expect(await seedDemo(s.database.query, s.api, config)).toBe(true);
    expect((await s.api('GET', 'machines')).body.Machines).toHaveLength(1);
  });
});
