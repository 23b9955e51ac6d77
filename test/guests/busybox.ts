// The tiny test guest: Debian's installer kernel + an initramfs with busybox-static.
// It boots to a root shell on the serial console (ttyS0), a second one on ttyS1 and one on
// the VGA console (tty1) in a few seconds under TCG. Built into the cache, keyed by its inputs.
//
// By hand: npx tsx test/guests/busybox.ts [out-dir]
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { cacheDir } from '../env/paths.js';
import { requireFile } from '../env/system.js';
import { type CpioEntry, initramfs } from './cpio.js';

export const DEBIAN_INSTALLER_DIR = '/usr/lib/debian-installer/images/12/amd64/text/debian-installer/amd64';
const INSTALLER_PACKAGES = ['debian-installer-12-netboot-amd64'];

/** The Debian 12 installer's netboot kernel and initrd (package debian-installer-12-netboot-amd64). */
export function debianInstallerNetboot(): { kernel: string; initrd: string } {
  return {
    kernel: requireFile(
      [join(DEBIAN_INSTALLER_DIR, 'linux')],
      INSTALLER_PACKAGES,
      'the Debian 12 installer kernel',
    ),
    initrd: requireFile(
      [join(DEBIAN_INSTALLER_DIR, 'initrd.gz')],
      INSTALLER_PACKAGES,
      'the Debian 12 installer initrd',
    ),
  };
}

/** The prompt the guest's shells print; tests wait for it. */
export const BUSYBOX_PROMPT = 'kubeqa-guest# ';

const INITTAB = `::sysinit:/etc/rc
ttyS0::respawn:-/bin/sh
ttyS1::respawn:-/bin/sh
tty1::respawn:-/bin/sh
::ctrlaltdel:/bin/poweroff -f
::shutdown:/bin/umount -a -r
`;

const RC = `#!/bin/sh
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev 2>/dev/null
mkdir -p /dev/pts /tmp /run
mount -t devpts devpts /dev/pts
hostname kubeqa-guest
echo "kubeqa busybox guest: up"
`;

const PROFILE = `export PATH=/bin:/sbin:/usr/bin:/usr/sbin
export PS1='${BUSYBOX_PROMPT}'
export HOME=/root
cd /root
`;

/** Kernel command line for the busybox guest. */
export const BUSYBOX_APPEND = 'console=tty1 console=ttyS0,115200 quiet rdinit=/sbin/init panic=-1';

function busyboxEntries(busybox: Buffer): CpioEntry[] {
  const dirs = [
    'bin',
    'sbin',
    'usr',
    'usr/bin',
    'usr/sbin',
    'etc',
    'proc',
    'sys',
    'dev',
    'tmp',
    'root',
    'run',
  ];
  return [
    ...dirs.map((path): CpioEntry => ({ path, type: 'dir' })),
    { path: 'bin/busybox', type: 'file', mode: 0o755, data: busybox },
    // The applets init needs before it can run `busybox --install`.
    ...['sh', 'mount', 'hostname', 'echo', 'mkdir', 'umount', 'poweroff', 'cat', 'ls', 'uname'].map(
      (applet): CpioEntry => ({ path: `bin/${applet}`, type: 'symlink', data: 'busybox' }),
    ),
    { path: 'sbin/init', type: 'symlink', data: '../bin/busybox' },
    { path: 'sbin/poweroff', type: 'symlink', data: '../bin/busybox' },
    { path: 'etc/inittab', type: 'file', data: INITTAB },
    { path: 'etc/rc', type: 'file', mode: 0o755, data: `${RC}/bin/busybox --install -s\n` },
    { path: 'etc/profile', type: 'file', data: PROFILE },
    { path: 'etc/hostname', type: 'file', data: 'kubeqa-guest\n' },
  ];
}

/** Build (or reuse from the cache) the busybox guest; returns kernel, initrd and kernel command line. */
export function busyboxGuest(outDir?: string): { kernel: string; initrd: string; append: string } {
  const busyboxPath = requireFile(['/bin/busybox', '/usr/bin/busybox'], ['busybox-static'], 'busybox-static');
  const { kernel } = debianInstallerNetboot();
  const busybox = readFileSync(busyboxPath);
  const entries = busyboxEntries(busybox);
  const key = createHash('sha256')
    .update(
      JSON.stringify(
        entries.map((e) => [
          e.path,
          e.type,
          e.mode,
          e.type === 'file' && e.path !== 'bin/busybox' ? String(e.data) : '',
        ]),
      ),
    )
    .update(busybox)
    .digest('hex')
    .slice(0, 16);
  const dir = outDir ?? cacheDir('testenv', 'guests', `busybox-${key}`);
  mkdirSync(dir, { recursive: true });
  const initrd = join(dir, 'initrd.gz');
  if (!existsSync(initrd)) {
    const tmp = `${initrd}.tmp-${process.pid}`;
    writeFileSync(tmp, initramfs(entries));
    renameSync(tmp, initrd);
  }
  return { kernel, initrd, append: BUSYBOX_APPEND };
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const guest = busyboxGuest(process.argv[2]);
  process.stdout.write(`${JSON.stringify(guest, null, 2)}\n`);
}
