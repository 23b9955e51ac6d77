// Shared helper: boot a guest with a VGA screen of a chosen size, grab that screen as PNG through
// QMP `screendump`, and press keys through QMP `send-key`. Used to make the needle fixtures from
// real screens (make-fixtures.ts) and free for any test that needs a real screenshot.
// The runner's own QMP/VNC clients live in worker-image/; this is a small test-side client.
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createConnection, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { crc32, deflateSync } from 'node:zlib';
import type { Frame } from '../../domain/needles/types.js';
import { bootGuest, type Guest, type GuestOptions } from '../env/guest.js';
import type { QemuInfo } from '../env/services/qemu.js';

/** Kernel command line of the Debian installer netboot with its dialogs on VGA and serial. */
export const INSTALLER_APPEND = 'vga=788 console=ttyS0,115200 console=tty0 priority=high';

export interface ScreenGuest {
  guest: Guest;
  /** The current screen as PNG bytes (QEMU's own encoder). */
  screendump(): Promise<Buffer>;
  /** The current screen as an RGB frame (QEMU's PPM screendump, no PNG codec involved). */
  screenFrame(): Promise<Frame>;
  /** Presses keys together (QMP qcodes: 'ret', 'down', 'a', 'ctrl', …). */
  sendKey(...keys: string[]): Promise<void>;
  stop(): Promise<void>;
}

class Qmp {
  private buffer = '';
  private waiters: Array<(line: Record<string, unknown>) => boolean> = [];

  constructor(private readonly socket: Socket) {
    socket.setEncoding('utf8');
    socket.on('data', (chunk: string) => {
      this.buffer += chunk;
      let nl = this.buffer.indexOf('\n');
      while (nl >= 0) {
        const line = this.buffer.slice(0, nl).trim();
        this.buffer = this.buffer.slice(nl + 1);
        nl = this.buffer.indexOf('\n');
        if (!line) continue;
        const message = JSON.parse(line) as Record<string, unknown>;
        this.waiters = this.waiters.filter((w) => !w(message));
      }
    });
  }

  next(
    accept: (m: Record<string, unknown>) => boolean,
    timeoutMs = 30_000,
  ): Promise<Record<string, unknown>> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`QMP: no answer within ${timeoutMs} ms`)), timeoutMs);
      this.waiters.push((m) => {
        if (!accept(m)) return false;
        clearTimeout(timer);
        resolve(m);
        return true;
      });
    });
  }

  async execute(command: string, args?: Record<string, unknown>): Promise<unknown> {
    const answer = this.next((m) => 'return' in m || 'error' in m);
    this.socket.write(`${JSON.stringify({ execute: command, ...(args ? { arguments: args } : {}) })}\n`);
    const m = await answer;
    if ('error' in m) throw new Error(`QMP ${command}: ${JSON.stringify(m.error)}`);
    return m.return;
  }
}

async function connectQmp(path: string, timeoutMs = 30_000): Promise<{ qmp: Qmp; socket: Socket }> {
  // QEMU opens the QMP socket after the serial one the guest helper waited for.
  const deadline = Date.now() + timeoutMs;
  while (!existsSync(path)) {
    if (Date.now() > deadline) throw new Error(`QMP socket ${path} did not appear within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 20));
  }
  const socket = createConnection(path);
  await new Promise<void>((resolve, reject) => {
    socket.once('connect', resolve);
    socket.once('error', reject);
  });
  const qmp = new Qmp(socket);
  await qmp.next((m) => 'QMP' in m);
  await qmp.execute('qmp_capabilities');
  return { qmp, socket };
}

/** Fraction of pixels that are not (nearly) black: 0 for a blank screen. */
export function litFraction(frame: Frame): number {
  let lit = 0;
  const { data, channels } = frame;
  for (let i = 0; i < data.length; i += channels) if (data[i]! + data[i + 1]! + data[i + 2]! > 60) lit++;
  return lit / (frame.width * frame.height);
}

/** Fraction of pixels of a neutral gray (R = G = B, 140…210): the installer's dialog boxes. */
export function grayFraction(frame: Frame): number {
  let gray = 0;
  const { data, channels } = frame;
  for (let i = 0; i < data.length; i += channels) {
    const r = data[i]!;
    if (r >= 140 && r <= 210 && data[i + 1] === r && data[i + 2] === r) gray++;
  }
  return gray / (frame.width * frame.height);
}

/** Parses a binary PPM (P6, maxval 255) as QEMU's screendump writes it. */
export function parsePpm(ppm: Buffer): Frame {
  const header = /^P6\s+(\d+)\s+(\d+)\s+255\s/.exec(ppm.toString('latin1', 0, 64));
  if (!header) throw new Error('not a P6 PPM with maxval 255');
  const width = Number(header[1]);
  const height = Number(header[2]);
  const start = header[0].length;
  return {
    width,
    height,
    channels: 3,
    data: new Uint8Array(ppm.subarray(start, start + width * height * 3)),
  };
}

/** A plain RGB PNG of a frame (node:zlib only: fixtures do not depend on the code under test). */
export function framePng(frame: Frame): Buffer {
  const { width, height, channels, data } = frame;
  const raw = Buffer.alloc((width * 3 + 1) * height);
  for (let y = 0; y < height; y++) {
    const row = y * (width * 3 + 1);
    for (let x = 0; x < width; x++) {
      const from = (y * width + x) * channels;
      raw[row + 1 + x * 3] = data[from]!;
      raw[row + 2 + x * 3] = data[from + 1]!;
      raw[row + 3 + x * 3] = data[from + 2]!;
    }
  }
  const chunk = (type: string, body: Buffer) => {
    const head = Buffer.alloc(8);
    head.writeUInt32BE(body.length, 0);
    head.write(type, 4, 'ascii');
    const crc = Buffer.alloc(4);
    crc.writeUInt32BE(crc32(Buffer.concat([head.subarray(4), body])), 0);
    return Buffer.concat([head, body, crc]);
  };
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(width, 0);
  ihdr.writeUInt32BE(height, 4);
  ihdr.set([8, 2, 0, 0, 0], 8); // 8-bit, RGB, deflate, no filter method choice, no interlace
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    chunk('IHDR', ihdr),
    chunk('IDAT', deflateSync(raw, { level: 9 })),
    chunk('IEND', Buffer.alloc(0)),
  ]);
}

/** Boots a guest with `-device VGA,edid=on,xres=…,yres=…` and QMP on a unix socket. */
export async function bootWithScreen(
  qemu: QemuInfo,
  options: GuestOptions & { xres: number; yres: number },
): Promise<ScreenGuest> {
  const dir = mkdtempSync(join(tmpdir(), 'kubeqa-screen-'));
  const qmpPath = join(dir, 'qmp.sock');
  const guest = await bootGuest(qemu, {
    ...options,
    extraArgs: [
      '-device',
      `VGA,edid=on,xres=${options.xres},yres=${options.yres}`,
      '-qmp',
      `unix:${qmpPath},server=on,wait=off`,
      ...(options.extraArgs ?? []),
    ],
  });
  const { qmp, socket } = await connectQmp(qmpPath);
  let n = 0;
  return {
    guest,
    async screendump() {
      const file = join(dir, `screen-${n++}.png`);
      await qmp.execute('screendump', { filename: file, format: 'png' });
      const png = readFileSync(file);
      rmSync(file, { force: true });
      return png;
    },
    async screenFrame() {
      const file = join(dir, `screen-${n++}.ppm`);
      await qmp.execute('screendump', { filename: file });
      const ppm = readFileSync(file);
      rmSync(file, { force: true });
      return parsePpm(ppm);
    },
    async sendKey(...keys) {
      await qmp.execute('send-key', { keys: keys.map((k) => ({ type: 'qcode', data: k })) });
    },
    async stop() {
      socket.destroy();
      await guest.stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** Boots the Debian 12 installer netboot (kernel + initrd) at the given screen size. */
export function bootInstaller(qemu: QemuInfo, xres = 1024, yres = 768): Promise<ScreenGuest> {
  return bootWithScreen(qemu, {
    kernel: qemu.debianInstaller.kernel,
    initrd: qemu.debianInstaller.initrd,
    append: INSTALLER_APPEND,
    memoryMb: 1024,
    xres,
    yres,
  });
}

/** Types text on the VGA console with send-key (letters, digits, space, a few symbols). */
export async function typeOnScreen(screen: ScreenGuest, text: string): Promise<void> {
  const named: Record<string, string[]> = {
    ' ': ['spc'],
    '-': ['minus'],
    '.': ['dot'],
    '/': ['slash'],
    '=': ['equal'],
    '\n': ['ret'],
    '"': ['shift', 'apostrophe'],
    $: ['shift', '4'],
    '(': ['shift', '9'],
    ')': ['shift', '0'],
    '+': ['shift', 'equal'],
    ';': ['semicolon'],
  };
  for (const ch of text) {
    const keys = named[ch] ?? (/[A-Z]/.test(ch) ? ['shift', ch.toLowerCase()] : [ch]);
    await screen.sendKey(...keys);
  }
}

/**
 * Waits until the screen stops changing: `stillMs` of screendumps whose pixels all equal the
 * first one of that stretch, except for at most `tolerance` differing bytes (a blinking cursor).
 * `differsFrom` makes it wait for a screen other than a previous one first.
 */
export async function waitForStillScreen(
  screen: ScreenGuest,
  options: {
    stillMs: number;
    timeoutMs: number;
    tolerance?: number;
    differsFrom?: Frame;
    /** Only a screen this accepts counts (e.g. "the dialog is drawn"). */
    accept?: (frame: Frame) => boolean;
  },
): Promise<Frame> {
  const tolerance = options.tolerance ?? 0;
  const deadline = Date.now() + options.timeoutMs;
  const differs = (a: Uint8Array, b: Uint8Array) => {
    if (a.length !== b.length) return Number.POSITIVE_INFINITY;
    let n = 0;
    for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) n++;
    return n;
  };
  const previous = options.differsFrom?.data;
  let anchor: { frame: Frame; data: Uint8Array; at: number } | undefined;
  while (Date.now() < deadline) {
    const frame = await screen.screenFrame();
    const data = frame.data;
    if ((previous && differs(previous, data) <= tolerance) || (options.accept && !options.accept(frame))) {
      anchor = undefined;
    } else if (!anchor || differs(anchor.data, data) > tolerance) {
      anchor = { frame, data, at: Date.now() };
    } else if (Date.now() - anchor.at >= options.stillMs) {
      return anchor.frame;
    }
    // The next screendump is the synchronisation point; this only spaces them out.
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(`the screen did not settle within ${options.timeoutMs} ms`);
}
