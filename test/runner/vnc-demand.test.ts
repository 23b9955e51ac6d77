// The runner's VNC client asks QEMU for frames only while something needs them (a screen check,
// the video, the live view): counted against the real QEMU VNC server with the busybox guest
// (TCG here) while its VGA console keeps changing.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Machine, startMachine } from '../../worker-image/qemu/machine.js';
import { checkInterval } from '../../worker-image/runner/testapi.js';
import { requestInterval } from '../../worker-image/vnc/client.js';
import { BUSYBOX_PROMPT } from '../guests/busybox.js';
import { busyboxMachineSettings } from '../helpers/busybox-jobs.js';
import { waitUntil } from '../helpers/wait-until.js';

const work = mkdtempSync(join(tmpdir(), 'kubeqa-vnc-demand-test-'));
let machine: Machine | undefined;
/** The client's linger after the last demand (VncClient's default). */
const LINGER_MS = 2000;

beforeAll(async () => {
  machine = await startMachine({
    settings: await busyboxMachineSettings(),
    workDir: work,
  });
  await machine.serial1.waitFor(new RegExp(BUSYBOX_PROMPT), 120_000);
}, 180_000);

afterAll(async () => {
  await machine?.stop();
  rmSync(work, { recursive: true, force: true });
});

/** Make the guest write to its VGA console for `seconds` (through the shell on ttyS1). */
async function scribble(seconds: number, marker: string): Promise<void> {
  const shell = machine!.serial1;
  const from = shell.position;
  shell.write(
    `end=$(( $(date +%s) + ${seconds} )); while [ $(date +%s) -lt $end ]; do echo scribble > /dev/tty0; done; echo ${marker}-$((40 + 2))\n`,
  );
  expect(await shell.waitFor(new RegExp(`${marker}-42`), 60_000, from)).toBeDefined();
}

describe('VNC update requests on demand', () => {
  it('sends none while nobody needs frames, however the screen changes', async () => {
    const vnc = machine!.vnc;
    expect(vnc.requests).toBe('on-demand');
    // no demand has been held in this job: only the handshake's full request went out
    expect(vnc.live).toBe(false);
    const requests = vnc.stats.requests;
    const generation = vnc.generation;
    await scribble(2, 'idle');
    expect(vnc.stats.requests).toBe(requests);
    expect(vnc.generation).toBe(generation);
    // a consumer that needs one current screen fetches it whole: one request, one update
    expect(await vnc.refresh(10_000)).toBe(true);
    expect(vnc.stats.requests).toBe(requests + 1);
    expect(vnc.generation).toBe(generation + 1);
  });

  it('requests frames at the demanded interval while a demand is held, and stops after the linger', async () => {
    const vnc = machine!.vnc;
    const interval = 250;
    const demand = vnc.demand(interval);
    expect(vnc.live).toBe(true);
    const requests = vnc.stats.requests;
    const generation = vnc.generation;
    const started = Date.now();
    await scribble(3, 'wanted');
    const elapsed = Date.now() - started;
    const sent = vnc.stats.requests - requests;
    expect(vnc.generation).toBeGreaterThan(generation);
    expect(sent).toBeGreaterThanOrEqual(2);
    expect(sent).toBeLessThanOrEqual(Math.floor(elapsed / interval) + 2);
    demand.release();
    // requests go on for the linger (the next step usually follows at once), then stop
    expect(vnc.live).toBe(true);
    expect(await waitUntil(() => !vnc.live, LINGER_MS + 5000)).toBe(true);
    await scribble(1, 'settle'); // answers the request still pending, if one was
    const after = vnc.stats.requests;
    await scribble(2, 'released');
    expect(vnc.stats.requests).toBe(after);
  });

  it('takes the fastest of the demands, never below the configured floor', () => {
    expect(requestInterval(0, [])).toBeUndefined();
    expect(requestInterval(0, [500, 100, 250])).toBe(100);
    expect(requestInterval(200, [100])).toBe(200);
    expect(() => machine!.vnc.demand(-1)).toThrow(/interval ≥ 0 ms/);
  });

  it('has screen checks ask every 100 ms for the first 3 s of a wait, then every 250 ms', () => {
    expect(checkInterval(0)).toBe(100);
    expect(checkInterval(2999)).toBe(100);
    expect(checkInterval(3000)).toBe(250);
    expect(checkInterval(300_000)).toBe(250);
  });
});
