// Diagnosis for the os-autoinst side of bench/runner: boots the installer in QEMU with the devices
// os-autoinst 4.6 gives its VM (from its QEMU command line), without os-autoinst, and watches the
// screen through kubeqa's VNC client and matcher until the language dialog appears.
//   npx tsx bench/runner/os-autoinst-vm.ts [sound] [all]
//   sound: add os-autoinst's HDA sound card; all: also its virtio consoles, virtio-scsi, -boot once=d,
//   -no-shutdown, -only-migratable and no floppy
// Prints whether the language dialog showed and after how long; the last screen goes to
// /tmp/os-autoinst-vm.png.
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { debianInstallerNetboot } from '../../test/guests/busybox.js';
import { createMatcher, encodePng, loadNeedleDir, selectNeedles } from '../../worker-image/needles/index.js';
import { VncClient } from '../../worker-image/vnc/client.js';

const sound = process.argv.includes('sound');
const all = process.argv.includes('all');
const dir = mkdtempSync(join(tmpdir(), 'os-autoinst-vm-'));
const { kernel, initrd } = debianInstallerNetboot();
const args = [
  ...['-device', 'VGA,edid=on,xres=1024,yres=768', '-m', '1024', '-smp', '2', '-accel', 'tcg'],
  ...(sound
    ? ['-audiodev', 'none,id=snd0', '-device', 'intel-hda', '-device', 'hda-output,audiodev=snd0']
    : []),
  ...['-netdev', 'user,id=qanet0', '-device', 'virtio-net,netdev=qanet0'],
  ...['-object', 'rng-random,filename=/dev/urandom,id=rng0', '-device', 'virtio-rng-pci,rng=rng0'],
  ...(all
    ? [
        ...['-only-migratable', '-global', 'isa-fdc.fdtypeA=none', '-boot', 'once=d', '-no-shutdown'],
        ...['-device', 'virtio-serial', '-chardev', 'null,id=vc0', '-device', 'virtconsole,chardev=vc0'],
        ...['-chardev', 'null,id=vc1', '-device', 'virtconsole,chardev=vc1', '-device', 'virtio-scsi-pci'],
      ]
    : []),
  ...[
    '-kernel',
    kernel,
    '-initrd',
    initrd,
    '-append',
    'vga=788 console=ttyS0,115200 console=tty0 priority=high',
  ],
  ...['-device', 'qemu-xhci', '-device', 'usb-tablet', '-serial', 'null', '-display', 'none'],
  ...['-vnc', `unix:${join(dir, 'vnc')}`],
];
const qemu = spawn('qemu-system-x86_64', args, { stdio: 'ignore' });
while (!existsSync(join(dir, 'vnc'))) await new Promise((r) => setTimeout(r, 100));
const vnc = await VncClient.connect(join(dir, 'vnc'));
const needles = selectNeedles(
  await loadNeedleDir(resolve(import.meta.dirname, '../../examples/debian-installer/needles')),
  'installer-language',
);
const matcher = createMatcher();
const start = Date.now();
let verdict = 'no language dialog within 300 s';
while (Date.now() - start < 300_000) {
  await vnc.waitForUpdate(3000);
  if ((await matcher.match(vnc.frame(), needles, { fullSearch: true })).ok) {
    verdict = 'language dialog';
    break;
  }
}
writeFileSync('/tmp/os-autoinst-vm.png', encodePng(vnc.frame()));
console.log(
  `${sound ? 'sound' : 'no sound'}${all ? ', all devices' : ''}: ${verdict} after ${((Date.now() - start) / 1000).toFixed(0)} s`,
);
vnc.close();
await matcher.close();
qemu.kill('SIGKILL');
rmSync(dir, { recursive: true, force: true });
