// The tiny test guest (built by examples/busybox/build-guest.ts): Debian's installer kernel + an
// initramfs with busybox-static, in the harness's cache keyed by its inputs.
//
// By hand: npx tsx test/guests/busybox.ts [out-dir]
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  BUSYBOX_APPEND,
  BUSYBOX_PATHS,
  busyboxGuestKey,
  DEBIAN_INSTALLER_DIR,
  DEBIAN_INSTALLER_PACKAGE,
  writeBusyboxInitrd,
} from '../../examples/busybox/build-guest.js';
import { cacheDir } from '../env/paths.js';
import { requireFile } from '../env/system.js';

export { BUSYBOX_APPEND, BUSYBOX_PROMPT, DEBIAN_INSTALLER_DIR } from '../../examples/busybox/build-guest.js';

/** The Debian 12 installer's netboot kernel and initrd (package debian-installer-12-netboot-amd64). */
export function debianInstallerNetboot(): { kernel: string; initrd: string } {
  return {
    kernel: requireFile(
      [join(DEBIAN_INSTALLER_DIR, 'linux')],
      [DEBIAN_INSTALLER_PACKAGE],
      'the Debian 12 installer kernel',
    ),
    initrd: requireFile(
      [join(DEBIAN_INSTALLER_DIR, 'initrd.gz')],
      [DEBIAN_INSTALLER_PACKAGE],
      'the Debian 12 installer initrd',
    ),
  };
}

/** Build (or reuse from the cache) the busybox guest; returns kernel, initrd and kernel command line. */
export function busyboxGuest(outDir?: string): { kernel: string; initrd: string; append: string } {
  const busyboxPath = requireFile(BUSYBOX_PATHS, ['busybox-static'], 'busybox-static');
  const { kernel } = debianInstallerNetboot();
  const dir =
    outDir ?? cacheDir('testenv', 'guests', `busybox-${busyboxGuestKey(readFileSync(busyboxPath))}`);
  const initrd = writeBusyboxInitrd(busyboxPath, join(dir, 'initrd.gz'));
  return { kernel, initrd, append: BUSYBOX_APPEND };
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const guest = busyboxGuest(process.argv[2]);
  process.stdout.write(`${JSON.stringify(guest, null, 2)}\n`);
}
