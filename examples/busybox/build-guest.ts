// The busybox demo's guest: Debian's installer kernel + an initramfs with busybox-static that
// boots to a root shell on the serial console (ttyS0), a second one on ttyS1 and one on the VGA
// console (tty1) in a few seconds under TCG. `kubeqa up` builds it into its asset directory; the
// test harness builds it into its cache (test/guests/busybox.ts).
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { type CpioEntry, initramfs } from './cpio.js';

/** Where Debian's package debian-installer-12-netboot-amd64 puts the netboot kernel and initrd. */
export const DEBIAN_INSTALLER_DIR = '/usr/lib/debian-installer/images/12/amd64/text/debian-installer/amd64';
export const DEBIAN_INSTALLER_PACKAGE = 'debian-installer-12-netboot-amd64';
/** Where Debian's busybox-static puts busybox. */
export const BUSYBOX_PATHS = ['/bin/busybox', '/usr/bin/busybox'];

/** The prompt the guest's shells print; tests wait for it. */
export const BUSYBOX_PROMPT = 'kubeqa-guest# ';

/** Kernel command line for the busybox guest. */
export const BUSYBOX_APPEND = 'console=tty1 console=ttyS0,115200 quiet rdinit=/sbin/init panic=-1';

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

/** A key of the initramfs's inputs (changes when busybox or the guest's files change). */
export function busyboxGuestKey(busybox: Buffer): string {
  const entries = busyboxEntries(busybox);
  return createHash('sha256')
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
}

/** Writes the guest's initramfs (gzip'd newc cpio) to `path` unless it is there; returns the path. */
export function writeBusyboxInitrd(busyboxPath: string, path: string): string {
  if (existsSync(path)) return path;
  const busybox = readFileSync(busyboxPath);
  mkdirSync(join(path, '..'), { recursive: true });
  const tmp = `${path}.tmp-${process.pid}`;
  writeFileSync(tmp, initramfs(busyboxEntries(busybox)));
  renameSync(tmp, path);
  return path;
}
