// Resolving a job's asset settings and CASEDIR to local paths (pure, with an injected file check).
import { describe, expect, it } from 'vitest';
import { assetTypeOf, resolveJobSettings } from '../../worker-image/runner/resolve-assets.js';

const files = new Set([
  '/assets/iso/debian.iso',
  '/assets/hdd/disk.qcow2',
  '/assets/other/linux',
  '/pkg/examples/busybox/main.ts',
  '/pkg/examples/busybox',
  '/abs/kernel',
]);
const options = { assetDir: '/assets', packageRoot: '/pkg', exists: (p: string) => files.has(p) };

describe('resolveJobSettings', () => {
  it("maps asset names into openQA's directory layout", () => {
    expect(assetTypeOf('ISO')).toBe('iso');
    expect(assetTypeOf('HDD_2')).toBe('hdd');
    expect(assetTypeOf('INITRD')).toBe('other');
    expect(assetTypeOf('ISO_URL')).toBeUndefined();
    const out = resolveJobSettings(
      { ISO: 'debian.iso', HDD_1: 'disk.qcow2', KERNEL: 'linux', TEST: 'x' },
      options,
    );
    expect(out).toMatchObject({
      ISO: '/assets/iso/debian.iso',
      HDD_1: '/assets/hdd/disk.qcow2',
      KERNEL: '/assets/other/linux',
      TEST: 'x',
    });
  });

  it('finds the demo distributions in the package', () => {
    expect(resolveJobSettings({ DISTRI: 'busybox' }, options).CASEDIR).toBe('/pkg/examples/busybox');
    expect(resolveJobSettings({ CASEDIR: 'examples/busybox' }, options).CASEDIR).toBe(
      '/pkg/examples/busybox',
    );
    expect(resolveJobSettings({ DISTRI: 'other' }, options).CASEDIR).toBeUndefined();
    expect(resolveJobSettings({ CASEDIR: 'https://example.org/t.git#main' }, options).CASEDIR).toBe(
      'https://example.org/t.git#main',
    );
  });

  it('takes what stageAssets put in place as it is, without looking for it again', () => {
    const looked: string[] = [];
    const out = resolveJobSettings(
      { ISO: 'debian.iso', HDD_1: 'disk.qcow2', KERNEL: '/abs/kernel' },
      {
        ...options,
        exists: (p) => {
          looked.push(p);
          return files.has(p);
        },
        staged: [
          { setting: 'ISO', path: '/cache/pool/7/debian.iso' },
          { setting: 'HDD_1', path: '/cache/pool/7/disk.qcow2' },
        ],
      },
    );
    expect(out).toMatchObject({
      ISO: '/cache/pool/7/debian.iso',
      HDD_1: '/cache/pool/7/disk.qcow2',
      KERNEL: '/abs/kernel',
    });
    expect(looked.filter((p) => !p.startsWith('/pkg/'))).toEqual(['/abs/kernel']);
  });

  it('says what is wrong with a missing or badly named asset', () => {
    expect(() => resolveJobSettings({ ISO: 'nope.iso' }, options)).toThrow(
      /the asset iso\/nope.iso is not in \/assets/,
    );
    expect(() => resolveJobSettings({ ISO: '../x.iso' }, options)).toThrow(/without directories/);
    expect(() => resolveJobSettings({ KERNEL: '/abs/missing' }, options)).toThrow(/no such file/);
    expect(resolveJobSettings({ KERNEL: '/abs/kernel' }, options).KERNEL).toBe('/abs/kernel');
    expect(() =>
      resolveJobSettings({ ISO: 'debian.iso' }, { packageRoot: '/pkg', exists: () => true }),
    ).toThrow(/--asset-dir/);
    expect(() => resolveJobSettings({ CASEDIR: '../../etc' }, options)).toThrow(/examples/);
  });
});
