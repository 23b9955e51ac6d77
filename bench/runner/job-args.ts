// The installer job's arguments for `kubeqa run`, shared by the side-by-side bench (run.ts) and
// the CPU profile (cpu.ts): the same job os-autoinst runs in bench/runner/os-autoinst-distri.
import { join, resolve } from 'node:path';
import { debianInstallerNetboot } from '../../test/guests/busybox.js';

export const root = resolve(import.meta.dirname, '../..');

// The kernel command line, the same setting for both jobs. The spaces at both ends are on purpose:
// os-autoinst 4.6 puts any -append value containing whitespace in single quotes and then runs QEMU
// without a shell, so the kernel receives the quotes literally. Without the spaces the last
// parameter would be `priority=high'`, which the installer does not recognise: it then shows its
// main menu instead of the language question and the job cannot pass. With them the quotes
// are parameters of their own (`'`), which the kernel hands to init and init ignores; for kubeqa
// (no quoting) the spaces change nothing.
export const APPEND = ' vga=788 console=ttyS0,115200 console=tty0 priority=high ';

/** `kubeqa run` arguments (after `run`) for the installer job writing to resultDir. */
export function kubeqaJobArgs(resultDir: string): string[] {
  const { kernel, initrd } = debianInstallerNetboot();
  return [
    '--quiet',
    '--result-dir',
    resultDir,
    `CASEDIR=${join(root, 'examples/debian-installer')}`,
    'SCHEDULE=installer/language,installer/location',
    `KERNEL=${kernel}`,
    `INITRD=${initrd}`,
    `APPEND=${APPEND}`,
    'QEMUCPUS=2',
    'QEMURAM=1024',
    'NUMDISKS=0',
    'NOVIDEO=1',
    // the same as the os-autoinst job: TCG without probing /dev/kvm, and the virtio RNG that
    // os-autoinst gives every VM (QEMU_VIRTIO_RNG defaults to on there)
    'QEMU_NO_KVM=1',
    'QEMU_DEVICES=virtio-rng',
    // KQ_BENCH_SETTINGS="A=1 B=2": extra settings for kubeqa's side (e.g. VNC_UPDATE_INTERVAL=250)
    ...(process.env.KQ_BENCH_SETTINGS ?? '').split(/\s+/).filter(Boolean),
  ];
}

/** vars.json of os-autoinst's same job (isotovideo reads it from its working directory). */
export function osAutoinstVars(): Record<string, string | number> {
  const { kernel, initrd } = debianInstallerNetboot();
  return {
    BACKEND: 'qemu',
    ARCH: 'x86_64',
    DISTRI: 'debian',
    CASEDIR: join(root, 'bench/runner/os-autoinst-distri'),
    NEEDLES_DIR: join(root, 'examples/debian-installer/needles'),
    PRODUCTDIR: join(root, 'bench/runner/os-autoinst-distri'),
    KERNEL: kernel,
    INITRD: initrd,
    APPEND,
    QEMUCPUS: 2,
    QEMURAM: 1024,
    NUMDISKS: 0,
    QEMU: 'x86_64', // qemu-system-x86_64: Debian's /usr/bin/kvm wrapper would force -enable-kvm
    QEMU_NO_KVM: 1,
    NOVIDEO: 1,
    VNC: 91,
  };
}
