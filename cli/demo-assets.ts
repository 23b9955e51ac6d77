// The demo's assets in the local asset directory (openQA's layout, <dir>/other/<name>): the
// Debian 12 installer's netboot kernel and initrd (linked from the Debian package
// debian-installer-12-netboot-amd64) and the busybox guest's initramfs (built from busybox-static).
// Missing packages do not stop `kubeqa up`: each gap is returned with the command that fills it.
import { existsSync, mkdirSync, rmSync, symlinkSync } from 'node:fs';
import { join } from 'node:path';
import {
  BUSYBOX_PATHS,
  DEBIAN_INSTALLER_DIR,
  DEBIAN_INSTALLER_PACKAGE,
  writeBusyboxInitrd,
} from '../examples/busybox/build-guest.js';

export interface DemoAssets {
  ready: string[];
  missing: { asset: string; hint: string }[];
}

export function prepareDemoAssets(assetDir: string): DemoAssets {
  const other = join(assetDir, 'other');
  mkdirSync(other, { recursive: true });
  for (const type of ['iso', 'hdd']) mkdirSync(join(assetDir, type), { recursive: true });
  const out: DemoAssets = { ready: [], missing: [] };
  const installerHint = `apt-get install -y ${DEBIAN_INSTALLER_PACKAGE}`;
  const link = (name: string, source: string) => {
    const target = join(other, name);
    if (existsSync(target)) return out.ready.push(name);
    if (!existsSync(source)) return out.missing.push({ asset: name, hint: installerHint });
    rmSync(target, { force: true }); // a link whose file went away
    symlinkSync(source, target);
    out.ready.push(name);
  };
  link('debian-12-netboot-linux', join(DEBIAN_INSTALLER_DIR, 'linux'));
  link('debian-12-netboot-initrd.gz', join(DEBIAN_INSTALLER_DIR, 'initrd.gz'));
  const busybox = BUSYBOX_PATHS.find((p) => existsSync(p));
  if (existsSync(join(other, 'busybox-initrd.gz'))) out.ready.push('busybox-initrd.gz');
  else if (!busybox)
    out.missing.push({ asset: 'busybox-initrd.gz', hint: 'apt-get install -y busybox-static' });
  else {
    writeBusyboxInitrd(busybox, join(other, 'busybox-initrd.gz'));
    out.ready.push('busybox-initrd.gz');
  }
  return out;
}
