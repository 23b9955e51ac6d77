// The QEMU backend against a real QEMU (the busybox guest, TCG here): QMP status, power and
// events, the VNC framebuffer (compared pixel by pixel with QMP's screendump) and key input,
// both serial consoles, disk overlays, and that QEMU never outlives its runner.
import { execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { qemuConfig } from '../../domain/runner/settings.js';
import { type Machine, prepareDisks, startMachine } from '../../worker-image/qemu/machine.js';
import { VncClient } from '../../worker-image/vnc/client.js';
import { keysForChar } from '../../worker-image/vnc/keys.js';
import { testEnv } from '../env/index.js';
import { BUSYBOX_PROMPT } from '../guests/busybox.js';
import { busyboxMachineSettings } from '../helpers/busybox-jobs.js';
import { waitUntil } from '../helpers/wait-until.js';

const work = mkdtempSync(join(tmpdir(), 'kubeqa-machine-test-'));
let machine: Machine | undefined;
let unexpectedExit: string | undefined;

beforeAll(async () => {
  machine = await startMachine({
    settings: await busyboxMachineSettings(),
    workDir: work,
    onUnexpectedExit: (why) => {
      unexpectedExit = why;
    },
  });
  await machine.serial0.waitFor(new RegExp(BUSYBOX_PROMPT), 120_000);
}, 180_000);

afterAll(async () => {
  await machine?.stop();
  rmSync(work, { recursive: true, force: true });
});

function ppm(path: string): { width: number; height: number; rgb: Buffer } {
  const data = readFileSync(path);
  const header = /^P6\s+(\d+)\s+(\d+)\s+255\s/.exec(data.subarray(0, 50).toString('latin1'));
  if (!header) throw new Error('not a PPM');
  return { width: Number(header[1]), height: Number(header[2]), rgb: data.subarray(header[0].length) };
}

describe('QMP', () => {
  it('reports status, pauses and resumes, and delivers RESET events', async () => {
    const qmp = machine!.qmp;
    expect(await qmp.queryStatus()).toMatchObject({ running: true, status: 'running' });
    await qmp.stop();
    expect(await qmp.queryStatus()).toMatchObject({ running: false, status: 'paused' });
    await qmp.cont();
    expect((await qmp.queryStatus()).running).toBe(true);
    await expect(qmp.execute('no-such-command')).rejects.toThrow(
      /QMP no-such-command failed: CommandNotFound/,
    );
  });
});

describe('serial consoles', () => {
  it('runs commands on the second console, answering the shell cursor queries', async () => {
    const shell = machine!.serial1;
    await shell.waitFor(new RegExp(BUSYBOX_PROMPT), 60_000);
    const from = shell.position;
    shell.write('echo "s1-$((40 + 2))"; tty\n');
    const match = await shell.waitFor(/s1-(\d+)\r?\n(\/dev\/\S+)\r?\n/, 20_000, from);
    expect(match?.[1]).toBe('42');
    expect(match?.[2]).toBe('/dev/ttyS1');
    expect(shell.text()).not.toContain('\x1b[6n');
  });

  it('records serial0 to serial0.txt', async () => {
    machine!.serial0.write('echo serial0-log-$((3 * 3))\n');
    expect(await machine!.serial0.waitFor(/serial0-log-9/, 20_000)).toBeDefined();
    await waitUntil(() => readFileSync(join(work, 'serial0.txt'), 'utf8').includes('serial0-log-9'), 5000);
    expect(readFileSync(join(work, 'serial0.txt'), 'utf8')).toContain('serial0-log-9');
  });
});

describe('VNC', () => {
  it('keeps a framebuffer identical to the screen QEMU dumps', async () => {
    const { vnc, qmp } = machine!;
    expect(vnc.width).toBeGreaterThan(0);
    // the runner's client requests frames only while someone needs them
    const demand = vnc.demand(0);
    // Pause the guest (the text cursor blinks on the guest's clock) and let the last update arrive.
    await qmp.stop();
    const deadline = Date.now() + 30_000;
    while ((await vnc.waitForUpdate(1500)) && Date.now() < deadline) {
      // updates still arriving
    }
    const frame = vnc.frame();
    demand.release();
    const dump = join(work, 'screen.ppm');
    await qmp.screendump(dump);
    await qmp.cont();
    const image = ppm(dump);
    expect([frame.width, frame.height]).toEqual([image.width, image.height]);
    let differing = 0;
    for (let p = 0; p < image.width * image.height; p++) {
      for (let c = 0; c < 3; c++) if (frame.data[p * 4 + c] !== image.rgb[p * 3 + c]) differing++;
    }
    expect(differing).toBe(0);
    // Not a black screen: the console text is there.
    expect(frame.data.some((v, i) => i % 4 !== 3 && v > 100)).toBe(true);
  });

  it('receives the same screen through the zlib encoding, compressed on the wire', async () => {
    const { qmp, argv } = machine!;
    const socket = (argv[argv.indexOf('-vnc') + 1] as string).replace(/^unix:/, '').replaceAll(',,', ',');
    await qmp.stop();
    const zlib = await VncClient.connect(socket, { encoding: 'zlib' });
    try {
      // The first (full) update: wait on the client's update events with a deadline.
      const deadline = Date.now() + 30_000;
      while (zlib.stats.pixels < zlib.width * zlib.height && Date.now() < deadline) {
        await zlib.waitForUpdate(deadline - Date.now());
      }
      const dump = join(work, 'screen-zlib.ppm');
      await qmp.screendump(dump);
      const image = ppm(dump);
      const frame = zlib.frame();
      expect([frame.width, frame.height]).toEqual([image.width, image.height]);
      let differing = 0;
      for (let p = 0; p < image.width * image.height; p++) {
        for (let c = 0; c < 3; c++) if (frame.data[p * 4 + c] !== image.rgb[p * 3 + c]) differing++;
      }
      expect(differing).toBe(0);
      // Raw would be 4 bytes a pixel: far fewer bytes came means QEMU really sent zlib.
      expect(zlib.stats.bytes).toBeLessThan(zlib.stats.pixels);
    } finally {
      zlib.close();
      await qmp.cont();
    }
  });

  it('paces its update requests with updateIntervalMs while the screen keeps changing', async () => {
    const { argv, serial1 } = machine!;
    const socket = (argv[argv.indexOf('-vnc') + 1] as string).replace(/^unix:/, '').replaceAll(',,', ',');
    const interval = 1000;
    const paced = await VncClient.connect(socket, { updateIntervalMs: interval });
    try {
      const deadline = Date.now() + 30_000;
      while (paced.stats.pixels < paced.width * paced.height && Date.now() < deadline) {
        await paced.waitForUpdate(deadline - Date.now());
      }
      await serial1.waitFor(new RegExp(BUSYBOX_PROMPT), 60_000);
      const updatesBefore = paced.stats.updates;
      const generationBefore = paced.generation;
      const startedAt = Date.now();
      const from = serial1.position;
      // the VGA console changes for 3 s, as fast as the guest can write to it
      serial1.write(
        'end=$(( $(date +%s) + 3 )); while [ $(date +%s) -lt $end ]; do echo pacing > /dev/tty0; done; echo paced-$((2 * 21))\n',
      );
      await serial1.waitFor(/paced-42/, 60_000, from);
      const elapsed = Date.now() - startedAt;
      const updates = paced.stats.updates - updatesBefore;
      // one request at most every `interval` ms, and each request is answered by one update
      expect(updates).toBeLessThanOrEqual(Math.floor(elapsed / interval) + 2);
      expect(paced.generation).toBeGreaterThan(generationBefore);
    } finally {
      paced.close();
    }
  });

  it('refuses an update interval that is not a whole number of ms', async () => {
    await expect(VncClient.connect('/nonexistent', { updateIntervalMs: -1 })).rejects.toThrow(
      /VNC update interval must be a whole number of ms/,
    );
  });

  it('rejects an unknown encoding before connecting', async () => {
    await expect(VncClient.connect('/nonexistent', { encoding: 'tight' as never })).rejects.toThrow(
      /unknown VNC encoding "tight"/,
    );
  });

  it('types on the VGA console with key events (shift included) and sees the screen change', async () => {
    const { vnc, serial0 } = machine!;
    const demand = vnc.demand(0);
    const generation = vnc.generation;
    const from = serial0.position;
    for (const char of 'echo VNC-$((6 * 7)) > /dev/ttyS0\n') {
      vnc.pressKeys(keysForChar(char));
      await vnc.flush();
      await new Promise((r) => setTimeout(r, 5));
    }
    expect(await serial0.waitFor(/VNC-42/, 30_000, from)).toBeDefined();
    // the typed text reaches the screen within a few of QEMU's display refreshes
    const deadline = Date.now() + 10_000;
    while (vnc.generation === generation && Date.now() < deadline) await vnc.waitForUpdate(1000);
    demand.release();
    expect(vnc.generation).toBeGreaterThan(generation);
  });
});

describe('power', () => {
  it('sees the guest power off as a SHUTDOWN event while QEMU stays for the runner', async () => {
    const { qmp, serial1 } = machine!;
    const mark = qmp.seen.length;
    serial1.write('poweroff -f\n');
    const event = await qmp.waitForEvent('SHUTDOWN', 60_000, mark);
    expect(event?.data).toMatchObject({ guest: true });
    expect(await qmp.queryStatus()).toMatchObject({ running: false, status: 'shutdown' });
    expect(machine!.process.hasExited()).toBe(false);
    const timers = () => process.getActiveResourcesInfo().filter((r) => r === 'Timeout').length;
    const timersBefore = timers();
    await machine!.stop();
    expect(machine!.process.hasExited()).toBe(true);
    // stop() leaves no timer behind that would keep the runner's process alive after QEMU quit
    expect(timers()).toBeLessThanOrEqual(timersBefore);
    expect(unexpectedExit).toBeUndefined();
  });
});

describe('disks', () => {
  it('creates a qcow2 overlay on a read-only base (never a copy) and blank disks of HDDSIZEGB', async () => {
    const { qemuImg } = await testEnv.qemu();
    const base = join(work, 'base.qcow2');
    execFileSync(qemuImg, ['create', '-q', '-f', 'qcow2', base, '1G']);
    const before = readFileSync(base);
    const pool = mkdtempSync(join(work, 'pool-'));
    const config = qemuConfig({ NUMDISKS: '2', HDD_1: base, HDDSIZEGB: '3' });
    const [overlay, blank] = await prepareDisks(config, pool, qemuImg);
    const info = JSON.parse(
      execFileSync(qemuImg, ['info', '--output=json', overlay as string], { encoding: 'utf8' }),
    ) as {
      'backing-filename'?: string;
      'backing-filename-format'?: string;
      'virtual-size': number;
    };
    expect(info['backing-filename']).toBe(base);
    expect(info['backing-filename-format']).toBe('qcow2');
    expect(statSync(overlay as string).size).toBeLessThan(1024 * 1024);
    const blankInfo = JSON.parse(
      execFileSync(qemuImg, ['info', '--output=json', blank as string], { encoding: 'utf8' }),
    ) as {
      'virtual-size': number;
      'backing-filename'?: string;
    };
    expect(blankInfo['virtual-size']).toBe(3 * 1024 ** 3);
    expect(blankInfo['backing-filename']).toBeUndefined();
    expect(readFileSync(base).equals(before)).toBe(true);
  });

  it('reports a missing base image by its setting', async () => {
    const { qemuImg } = await testEnv.qemu();
    await expect(
      prepareDisks(qemuConfig({ HDD_1: join(work, 'missing.qcow2') }), work, qemuImg),
    ).rejects.toThrow(/setting HDD_1: file .*missing.qcow2 does not exist/);
  });
});

describe('process lifetime', () => {
  it('kills QEMU when the runner process is SIGKILLed', async () => {
    const script = join(work, 'runner-child.mts');
    const machineModule = join(process.cwd(), 'worker-image/qemu/machine.ts');
    const childWork = mkdtempSync(join(work, 'child-'));
    const settings = { ...(await busyboxMachineSettings()), QEMURAM: '128' };
    const { writeFileSync } = await import('node:fs');
    writeFileSync(
      script,
      `import { startMachine } from ${JSON.stringify(machineModule)};\n` +
        `const m = await startMachine({ settings: ${JSON.stringify(settings)}, workDir: ${JSON.stringify(childWork)} });\n` +
        'console.log("qemu-pid " + m.process.pid);\nsetInterval(() => {}, 1000);\n',
    );
    const child = spawn(process.execPath, ['--import', 'tsx', script], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    const pid = await new Promise<number>((resolve, reject) => {
      createInterface({ input: child.stdout! }).on('line', (line) => {
        const match = /^qemu-pid (\d+)$/.exec(line);
        if (match) resolve(Number(match[1]));
      });
      child.once('exit', (code) => reject(new Error(`runner child exited early (${code})`)));
    });
    expect(existsSync(`/proc/${pid}`)).toBe(true);
    expect(readFileSync(`/proc/${pid}/cmdline`, 'utf8')).toContain('qemu-system-x86_64');
    child.kill('SIGKILL');
    const gone = () =>
      !existsSync(`/proc/${pid}`) ||
      readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]?.startsWith('Z');
    await waitUntil(() => gone() === true, 10_000, 50);
    expect(gone()).toBe(true);
  });
});
