// The busybox guest as a job, as the runner's and the executors' tests run it: its kernel and
// initrd as assets of a local asset directory (openQA's layout), the settings that boot it, and
// the processes left in a job's directory.
import { copyFileSync, mkdirSync, readdirSync, readlinkSync } from 'node:fs';
import { join } from 'node:path';
import { timeoutScaleFor } from '../../worker-image/qemu/accelerator.js';
import { testEnv } from '../env/index.js';

/** Puts the busybox guest's kernel and initrd into `assetDir`/other as busybox-linux and busybox-initrd.gz. */
export async function busyboxAssetDir(assetDir: string): Promise<void> {
  const { busybox } = await testEnv.qemu();
  mkdirSync(join(assetDir, 'other'), { recursive: true });
  copyFileSync(busybox.kernel, join(assetDir, 'other', 'busybox-linux'));
  copyFileSync(busybox.initrd, join(assetDir, 'other', 'busybox-initrd.gz'));
}

/** Settings that boot the busybox demo from such an asset directory, timeouts for this accelerator. */
export async function busyboxSettings(): Promise<Record<string, string>> {
  const { busybox, accel } = await testEnv.qemu();
  return {
    DISTRI: 'busybox',
    KERNEL: 'busybox-linux',
    INITRD: 'busybox-initrd.gz',
    APPEND: busybox.append,
    QEMUCPUS: '2',
    QEMURAM: '256',
    NUMDISKS: '0',
    NOVIDEO: '1',
    TIMEOUT_SCALE: String(timeoutScaleFor(accel)),
  };
}

/** Settings that boot the busybox guest straight from the harness's files (a machine, no job). */
export async function busyboxMachineSettings(): Promise<Record<string, string>> {
  const { busybox } = await testEnv.qemu();
  return {
    KERNEL: busybox.kernel,
    INITRD: busybox.initrd,
    APPEND: busybox.append,
    QEMUCPUS: '2',
    QEMURAM: '256',
    NUMDISKS: '0',
  };
}

/** Processes whose working directory is inside `dir` (QEMU and the runner run in a job's directory). */
export function processesIn(dir: string): number[] {
  const pids: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      if (readlinkSync(`/proc/${entry}/cwd`).startsWith(dir)) pids.push(Number(entry));
    } catch {}
  }
  return pids;
}
