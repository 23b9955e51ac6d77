// Settings → QEMU command line, with no I/O: the caller prepares the overlays, sockets and
// firmware copies and passes their paths. Only what this function writes reaches QEMU; job
// settings never contribute raw arguments (extra devices come from ALLOWED_DEVICES).

import { ALLOWED_DEVICES, type QemuConfig } from '../../domain/runner/settings.js';
import type { Accelerator } from './accelerator.js';

export interface QemuRuntimePaths {
  accel: Accelerator;
  qmpSocket: string;
  vncSocket: string;
  /** serial0 (the log and wait_serial) and serial1 (the shell console for script_run). */
  serialSockets: [string, string];
  /** qcow2 overlays, one per configured disk, same order as config.disks. */
  disks: string[];
  /** OVMF code (read-only) and this job's writable copy of the variables, when UEFI is on. */
  uefiCode?: string;
  uefiVars?: string;
}

/** QEMU's option syntax: a comma inside a value is written as two commas. */
export function escapeOptionValue(value: string): string {
  return value.replaceAll(',', ',,');
}

function vgaArgs(config: QemuConfig): string[] {
  const res = `xres=${config.xres},yres=${config.yres}`;
  switch (config.vga) {
    case 'std':
      return ['-device', `VGA,edid=on,${res}`];
    case 'virtio':
      return ['-device', `virtio-vga,edid=on,${res}`];
    case 'qxl':
      return ['-device', `qxl-vga,${res}`];
    case 'cirrus':
      return ['-device', 'cirrus-vga'];
    case 'none':
      return [];
  }
}

export function buildQemuArgv(config: QemuConfig, paths: QemuRuntimePaths): string[] {
  if (paths.disks.length !== config.disks.length) {
    throw new Error(`expected ${config.disks.length} disk overlays, got ${paths.disks.length}`);
  }
  const argv: string[] = [
    '-nodefaults',
    '-no-user-config',
    '-S',
    '-no-shutdown',
    '-accel',
    paths.accel === 'kvm' && !config.noKvm ? 'kvm' : 'tcg',
  ];
  if (config.machine) argv.push('-machine', config.machine);
  if (config.cpu) argv.push('-cpu', config.cpu);
  argv.push('-smp', String(config.cpus), '-m', String(config.ramMb));
  argv.push(...vgaArgs(config));
  argv.push('-display', 'none', '-vnc', `unix:${escapeOptionValue(paths.vncSocket)}`);
  argv.push('-qmp', `unix:${escapeOptionValue(paths.qmpSocket)},server=on,wait=off`);
  paths.serialSockets.forEach((socket, i) => {
    argv.push(
      '-chardev',
      `socket,id=serial${i},path=${escapeOptionValue(socket)},server=on,wait=off`,
      '-serial',
      `chardev:serial${i}`,
    );
  });
  if (config.uefi) {
    if (!paths.uefiCode || !paths.uefiVars) throw new Error('UEFI needs the OVMF code and a variables copy');
    argv.push(
      '-drive',
      `if=pflash,format=raw,unit=0,readonly=on,file=${escapeOptionValue(paths.uefiCode)}`,
      '-drive',
      `if=pflash,format=raw,unit=1,file=${escapeOptionValue(paths.uefiVars)}`,
    );
  }
  config.disks.forEach((disk, i) => {
    const id = `hd${disk.index}`;
    argv.push(
      '-drive',
      `if=none,id=${id},format=qcow2,cache=unsafe,discard=unmap,file=${escapeOptionValue(paths.disks[i] as string)}`,
      '-device',
      config.hddModel === 'ide-hd'
        ? `ide-hd,drive=${id},serial=${id}`
        : `${config.hddModel},drive=${id},serial=${id}`,
    );
  });
  if (config.iso) {
    argv.push(
      '-drive',
      `if=none,id=cd0,media=cdrom,format=raw,readonly=on,file=${escapeOptionValue(config.iso)}`,
      '-device',
      'ide-cd,drive=cd0,bus=ide.1',
    );
  }
  if (config.kernel) {
    argv.push('-kernel', config.kernel);
    if (config.initrd) argv.push('-initrd', config.initrd);
    if (config.append !== undefined) argv.push('-append', config.append);
  }
  if (config.nic === 'user') {
    argv.push('-netdev', 'user,id=qanet0', '-device', `${config.nicModel},netdev=qanet0,mac=${config.mac}`);
  }
  const usb = config.tablet || config.devices.some((d) => d.startsWith('usb-'));
  if (usb) argv.push('-device', 'qemu-xhci,id=xhci0');
  if (config.tablet) argv.push('-device', 'usb-tablet,bus=xhci0.0');
  for (const device of config.devices) argv.push(...ALLOWED_DEVICES[device]);
  const boot: string[] = [];
  const from = config.bootFrom ?? (config.iso ? 'd' : undefined);
  if (from === 'd') boot.push('once=d');
  else if (from === 'c') boot.push('order=c');
  if (config.bootMenu) boot.push('menu=on', 'splash-time=5000');
  if (boot.length > 0) argv.push('-boot', boot.join(','));
  return argv;
}
