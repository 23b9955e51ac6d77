// QEMU for the tests: the binaries, the accelerator this host can use, and the two guests
// (the Debian 12 installer netboot and the tiny busybox guest). Guests themselves are started by
// the tests that need them (see ../guest.ts); this service only checks and prepares.
import { detectAccelerator } from '../../../worker-image/qemu/kvm-probe.js';
import { busyboxGuest, debianInstallerNetboot } from '../../guests/busybox.js';
import { requireCommand, requireFile } from '../system.js';

export interface QemuInfo {
  qemu: string;
  qemuImg: string;
  accel: 'kvm' | 'tcg';
  accelReason: string;
  ovmf: { code: string; vars: string };
  busybox: { kernel: string; initrd: string; append: string };
  debianInstaller: { kernel: string; initrd: string };
}

export async function prepareQemu(log?: (line: string) => void): Promise<{ info: QemuInfo }> {
  const qemu = requireCommand('qemu-system-x86_64', ['qemu-system-x86']);
  const qemuImg = requireCommand('qemu-img', ['qemu-utils']);
  const ovmf = {
    code: requireFile(
      ['/usr/share/OVMF/OVMF_CODE_4M.fd', '/usr/share/OVMF/OVMF_CODE.fd'],
      ['ovmf'],
      'OVMF firmware',
    ),
    vars: requireFile(
      ['/usr/share/OVMF/OVMF_VARS_4M.fd', '/usr/share/OVMF/OVMF_VARS.fd'],
      ['ovmf'],
      'OVMF variables',
    ),
  };
  const decision = await detectAccelerator({ qemu, log });
  return {
    info: {
      qemu,
      qemuImg,
      accel: decision.accel,
      accelReason: decision.reason,
      ovmf,
      busybox: busyboxGuest(),
      debianInstaller: debianInstallerNetboot(),
    },
  };
}
