// QEMU boots the busybox guest (software emulation here), and the test drives its serial shell.
import { afterAll, describe, expect, it } from 'vitest';
import { bootGuest, type Guest } from '../env/guest.js';
import { testEnv } from '../env/index.js';
import { BUSYBOX_PROMPT } from '../guests/busybox.js';

let guest: Guest | undefined;
afterAll(async () => {
  await guest?.stop();
});

describe('QEMU started by the harness', () => {
  it('boots the busybox guest to a serial shell that runs commands', async () => {
    const qemu = await testEnv.qemu();
    expect(['kvm', 'tcg']).toContain(qemu.accel);
    expect(qemu.accelReason.length).toBeGreaterThan(10);
    guest = await bootGuest(qemu, qemu.busybox);
    await guest.serial.waitFor(new RegExp(BUSYBOX_PROMPT), 60_000);
    const mark = guest.serial.text().length;
    guest.serial.write('echo "sum=$((40 + 2))"; uname -r\n');
    const match = await guest.serial.waitFor(/sum=(\d+)\r?\n(\S+)\r?\n/, 20_000, mark);
    expect(match[1]).toBe('42');
    expect(match[2]).toMatch(/^6\.\d+/);
    // Power off from inside: QEMU exits by itself (-no-reboot).
    guest.serial.write('poweroff -f\n');
    const exit = await guest.proc.exited;
    expect(exit.code).toBe(0);
  });
});
