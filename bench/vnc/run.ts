// The VNC client's encodings side by side on one real QEMU (the busybox guest, TCG here):
// raw against zlib, on QEMU's unix-socket VNC server as the runner uses it.
//
//   npx tsx bench/vnc/run.ts [rounds]   (default 20 full-screen fetches per encoding)
//
// Per encoding: (1) full-screen fetch: request a non-incremental update of the 1024×768 screen
// and wait until all its pixels are in the client's buffer (median and p90 of `rounds`);
// (2) streaming: the guest floods its VGA console with text for 8 s while the client follows
// incremental updates; we count updates, pixels, bytes on the socket, and the CPU time spent by
// the client (this process) and by QEMU. The encodings take turns, one client at a time.
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { BUSYBOX_PROMPT } from '../../test/guests/busybox.js';
import { busyboxMachineSettings } from '../../test/helpers/busybox-jobs.js';
import { type Machine, startMachine } from '../../worker-image/qemu/machine.js';
import { VncClient, type VncEncoding } from '../../worker-image/vnc/client.js';

const rounds = Number(process.argv[2] ?? 20);
const STREAM_SECONDS = 8;

function qemuCpuSeconds(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]?.split(' ') ?? [];
  return (Number(fields[11]) + Number(fields[12])) / 100; // utime + stime, in clock ticks
}

function selfCpuSeconds(): number {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1e6;
}

async function until(client: VncClient, pixels: number, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (client.stats.pixels < pixels) {
    if (Date.now() > deadline) throw new Error('timed out waiting for VNC pixels');
    await client.waitForUpdate(deadline - Date.now());
  }
}

function quantile(values: number[], q: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] as number;
}

async function fullFetch(socket: string, encoding: VncEncoding) {
  const client = await VncClient.connect(socket, { encoding });
  await until(client, client.width * client.height, 10_000); // the initial full update
  const times: number[] = [];
  const bytesBefore = client.stats.bytes;
  for (let i = 0; i < rounds; i++) {
    const target = client.stats.pixels + client.width * client.height;
    const started = process.hrtime.bigint();
    client.requestFullUpdate();
    await until(client, target, 10_000);
    times.push(Number(process.hrtime.bigint() - started) / 1e6);
  }
  const bytesPerFrame = (client.stats.bytes - bytesBefore) / rounds;
  client.close();
  return { median: quantile(times, 0.5), p90: quantile(times, 0.9), bytesPerFrame };
}

async function stream(machine: Machine, socket: string, encoding: VncEncoding) {
  const client = await VncClient.connect(socket, { encoding });
  await until(client, client.width * client.height, 10_000);
  const start = { ...client.stats };
  const qemuBefore = qemuCpuSeconds(machine.process.pid);
  const selfBefore = selfCpuSeconds();
  const shell = machine.serial1;
  const from = shell.position;
  shell.write(
    `end=$(($(date +%s) + ${STREAM_SECONDS})); while [ $(date +%s) -lt $end ]; do cat /proc/cpuinfo /proc/meminfo; done > /dev/tty1; echo stream-$((40 + 2))-done\n`,
  );
  await shell.waitFor(/stream-42-done\r?\n/, (STREAM_SECONDS + 60) * 1000, from);
  const result = {
    updates: client.stats.updates - start.updates,
    megapixels: (client.stats.pixels - start.pixels) / 1e6,
    megabytes: (client.stats.bytes - start.bytes) / 1e6,
    clientCpu: selfCpuSeconds() - selfBefore,
    qemuCpu: qemuCpuSeconds(machine.process.pid) - qemuBefore,
  };
  client.close();
  return result;
}

const work = mkdtempSync(join(tmpdir(), 'bench-vnc-'));
const machine = await startMachine({
  settings: await busyboxMachineSettings(),
  workDir: work,
});
try {
  await machine.serial0.waitFor(new RegExp(BUSYBOX_PROMPT), 180_000);
  await machine.serial1.waitFor(new RegExp(BUSYBOX_PROMPT), 60_000);
  const vncArg = machine.argv[machine.argv.indexOf('-vnc') + 1] ?? '';
  const socket = vncArg.replace(/^unix:/, '').replace(/,,/g, ',');
  machine.vnc.close(); // only the measured client talks to QEMU
  console.log(
    `accel ${machine.accel}, load average ${loadavg()
      .map((l) => l.toFixed(2))
      .join(' ')}`,
  );
  const rows: string[] = [];
  for (const encoding of ['raw', 'zlib', 'raw', 'zlib'] as const) {
    const full = await fullFetch(socket, encoding);
    const s = await stream(machine, socket, encoding);
    const row =
      `${encoding.padEnd(5)} full screen: median ${full.median.toFixed(1)} ms, p90 ${full.p90.toFixed(1)} ms, ` +
      `${(full.bytesPerFrame / 1e3).toFixed(0)} kB | stream ${STREAM_SECONDS} s: ${s.updates} updates, ` +
      `${s.megapixels.toFixed(1)} Mpx, ${s.megabytes.toFixed(2)} MB, client CPU ${s.clientCpu.toFixed(2)} s, ` +
      `QEMU CPU ${s.qemuCpu.toFixed(2)} s`;
    console.log(row);
    rows.push(row);
  }
  console.log(
    `load average after ${loadavg()
      .map((l) => l.toFixed(2))
      .join(' ')}`,
  );
} finally {
  await machine.stop();
  rmSync(work, { recursive: true, force: true });
}
