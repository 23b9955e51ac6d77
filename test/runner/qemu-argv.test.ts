// Settings → QEMU configuration → command line: defaults as openQA's, validation with the
// setting's name, no raw arguments from settings.
import { describe, expect, it } from 'vitest';
import { qemuConfig } from '../../domain/runner/settings.js';
import { buildQemuArgv, escapeOptionValue, type QemuRuntimePaths } from '../../worker-image/qemu/argv.js';

function paths(disks: number, extra: Partial<QemuRuntimePaths> = {}): QemuRuntimePaths {
  return {
    accel: 'tcg',
    qmpSocket: '/run/q/qmp',
    vncSocket: '/run/q/vnc',
    serialSockets: ['/run/q/s0', '/run/q/s1'],
    disks: Array.from({ length: disks }, (_, i) => `/pool/hd${i + 1}.qcow2`),
    ...extra,
  };
}

function optionValues(argv: string[], option: string): string[] {
  return argv.flatMap((arg, i) => (arg === option ? [argv[i + 1] as string] : []));
}

describe('qemuConfig', () => {
  it('applies openQA defaults', () => {
    const config = qemuConfig({});
    expect(config).toMatchObject({
      cpus: 1,
      ramMb: 1024,
      vga: 'std',
      xres: 1024,
      yres: 768,
      nic: 'user',
      uefi: false,
    });
    expect(config.disks).toEqual([{ index: 1, sizeGb: 10 }]);
  });

  it('reads every machine setting', () => {
    const config = qemuConfig({
      QEMUCPU: 'host',
      QEMUCPUS: '2',
      QEMURAM: '2048',
      QEMUMACHINE: 'q35',
      QEMUVGA: 'virtio',
      ISO: '/iso/x.iso',
      NUMDISKS: '2',
      HDD_1: '/img/base.qcow2',
      HDDSIZEGB: '20',
      KERNEL: '/k',
      INITRD: '/i',
      APPEND: 'console=ttyS0 quiet',
      UEFI: '1',
      BOOT_MENU: '1',
      QEMU_DEVICES: 'virtio-rng,usb-kbd',
    });
    expect(config).toMatchObject({
      cpu: 'host',
      cpus: 2,
      ramMb: 2048,
      machine: 'q35',
      vga: 'virtio',
      iso: '/iso/x.iso',
    });
    expect(config.disks).toEqual([
      { index: 1, sizeGb: 20, base: '/img/base.qcow2' },
      { index: 2, sizeGb: 20 },
    ]);
    expect(config).toMatchObject({
      kernel: '/k',
      initrd: '/i',
      append: 'console=ttyS0 quiet',
      uefi: true,
      bootMenu: true,
    });
    expect(config.devices).toEqual(['virtio-rng', 'usb-kbd']);
  });

  it.each([
    [{ QEMUCPUS: 'two' }, /QEMUCPUS='two' is invalid/],
    [{ QEMURAM: '0' }, /QEMURAM='0' is invalid/],
    [{ QEMUVGA: 'matrox' }, /QEMUVGA='matrox' is invalid: expected std, virtio/],
    [{ QEMUCPU: 'host -device evil' }, /QEMUCPU='host -device evil' is invalid/],
    [{ QEMUMACHINE: 'pc,accel=kvm -S' }, /QEMUMACHINE=/],
    [
      { QEMU_DEVICES: 'virtio-rng,-hda /etc/shadow' },
      /QEMU_DEVICES='-hda \/etc\/shadow' is invalid: expected devices from the allow-list/,
    ],
    [{ NICTYPE: 'tap' }, /NICTYPE='tap' is invalid/],
    [{ HDD_3: '/x.qcow2' }, /HDD_3=.*within NUMDISKS=1/],
    [{ INITRD: '/i' }, /INITRD='\/i' is invalid: expected to be used together with KERNEL/],
    [{ NUMDISKS: '99' }, /NUMDISKS='99'/],
  ])('rejects %o with a coded error naming the setting', (settings, message) => {
    expect(() => qemuConfig(settings)).toThrow(message);
    try {
      qemuConfig(settings);
    } catch (error) {
      expect((error as { code: string }).code).toBe('KQ_ERR_INVALID_SETTING');
    }
  });
});

describe('buildQemuArgv', () => {
  it('starts paused, keeps the machine on guest shutdown and uses a 1024x768 VGA with EDID', () => {
    const argv = buildQemuArgv(qemuConfig({ NUMDISKS: '0' }), paths(0));
    expect(argv.slice(0, 6)).toEqual([
      '-nodefaults',
      '-no-user-config',
      '-S',
      '-no-shutdown',
      '-accel',
      'tcg',
    ]);
    expect(optionValues(argv, '-device')).toContain('VGA,edid=on,xres=1024,yres=768');
    expect(optionValues(argv, '-vnc')).toEqual(['unix:/run/q/vnc']);
    expect(optionValues(argv, '-qmp')).toEqual(['unix:/run/q/qmp,server=on,wait=off']);
    expect(optionValues(argv, '-serial')).toEqual(['chardev:serial0', 'chardev:serial1']);
    expect(optionValues(argv, '-netdev')).toEqual(['user,id=qanet0']);
  });

  it('uses KVM only when the detector chose it and the job does not forbid it', () => {
    expect(
      optionValues(buildQemuArgv(qemuConfig({ NUMDISKS: '0' }), paths(0, { accel: 'kvm' })), '-accel'),
    ).toEqual(['kvm']);
    expect(
      optionValues(
        buildQemuArgv(qemuConfig({ NUMDISKS: '0', QEMU_NO_KVM: '1' }), paths(0, { accel: 'kvm' })),
        '-accel',
      ),
    ).toEqual(['tcg']);
  });

  it('attaches overlays, the ISO read-only, the kernel and UEFI firmware', () => {
    const config = qemuConfig({
      NUMDISKS: '2',
      HDD_1: '/img/base.qcow2',
      ISO: '/iso/a,b.iso',
      KERNEL: '/k',
      INITRD: '/i',
      APPEND: 'quiet',
      UEFI: '1',
      BOOT_MENU: '1',
    });
    const argv = buildQemuArgv(config, paths(2, { uefiCode: '/fw/code.fd', uefiVars: '/pool/vars.fd' }));
    const drives = optionValues(argv, '-drive');
    expect(drives).toContain('if=none,id=hd1,format=qcow2,cache=unsafe,discard=unmap,file=/pool/hd1.qcow2');
    expect(drives).toContain('if=none,id=hd2,format=qcow2,cache=unsafe,discard=unmap,file=/pool/hd2.qcow2');
    // The base image itself never reaches QEMU: only its overlay does.
    expect(argv.join(' ')).not.toContain('/img/base.qcow2');
    expect(drives).toContain('if=none,id=cd0,media=cdrom,format=raw,readonly=on,file=/iso/a,,b.iso');
    expect(drives).toContain('if=pflash,format=raw,unit=0,readonly=on,file=/fw/code.fd');
    expect(drives).toContain('if=pflash,format=raw,unit=1,file=/pool/vars.fd');
    expect(optionValues(argv, '-kernel')).toEqual(['/k']);
    expect(optionValues(argv, '-initrd')).toEqual(['/i']);
    expect(optionValues(argv, '-append')).toEqual(['quiet']);
    expect(optionValues(argv, '-boot')).toEqual(['once=d,menu=on,splash-time=5000']);
  });

  it('adds extra devices only from the allow-list', () => {
    const argv = buildQemuArgv(qemuConfig({ NUMDISKS: '0', QEMU_DEVICES: 'virtio-rng' }), paths(0));
    expect(optionValues(argv, '-device')).toContain('virtio-rng-pci,rng=rng0');
  });

  it('escapes commas in option values', () => {
    expect(escapeOptionValue('/a,b,c')).toBe('/a,,b,,c');
  });
});
