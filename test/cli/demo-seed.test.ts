// The demo of `kubeqa up` (config/demo/demo.yaml) seeded through the real API on real PostgreSQL:
// once only, and what it loads schedules the demo build with the demo's assets and settings.
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type ApiCall, readDemoConfig, seedDemo } from '../../db/demo-seed.js';
import { BUSYBOX_APPEND } from '../../examples/busybox/build-guest.js';
import { packageRoot } from '../../runtime/package-root.js';
import { timeoutScaleFor } from '../../worker-image/qemu/accelerator.js';
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

  it("gives the demo machine the accelerator's TIMEOUT_SCALE unless the file sets one", async () => {
    expect([timeoutScaleFor('kvm'), timeoutScaleFor('tcg')]).toEqual([1, 3]);
    const other = await startServer('demo_seed_scale');
    try {
      const seeded = await seedDemo(other.database.query, other.api, config, {
        machineDefaults: { TIMEOUT_SCALE: String(timeoutScaleFor('kvm')) },
      });
      expect(seeded).toBe(true);
      const [machine] = (await other.api('GET', 'machines')).body.Machines;
      const settings = Object.fromEntries(machine.settings.map((x: Json) => [x.key, x.value]));
      expect(settings.TIMEOUT_SCALE).toBe('1');
      // a value in the file wins over the default
      await other.database.query("delete from kubeqa_meta where key = 'demo_seeded'");
      await other.api('DELETE', `machines/${machine.id}`);
      const pinned = {
        ...config,
        machines: config.machines.map((m) => ({ ...m, settings: { ...m.settings, TIMEOUT_SCALE: '5' } })),
      };
      await seedDemo(other.database.query, other.api, pinned, { machineDefaults: { TIMEOUT_SCALE: '1' } });
      const [again] = (await other.api('GET', 'machines')).body.Machines;
      expect(again.settings.find((x: Json) => x.key === 'TIMEOUT_SCALE')?.value).toBe('5');
    } finally {
      await other.close();
    }
  });

  it('keeps what exists when an earlier seed stopped half way', async () => {
    await s.database.query("delete from kubeqa_meta where key = 'demo_seeded'");
    expect(await seedDemo(s.database.query, s.api, config)).toBe(true);
    expect((await s.api('GET', 'machines')).body.Machines).toHaveLength(1);
  });
});
