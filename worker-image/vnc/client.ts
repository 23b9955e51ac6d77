// A VNC (RFB 3.8) client for QEMU's built-in server on a local socket, security type None.
// It keeps a copy of the guest's screen current: after each framebuffer update it asks for the
// next incremental one, so QEMU sends changes as they happen (at its own refresh rate). Raw
// encoding plus the DesktopSize pseudo-encoding (the guest switching resolution); optionally the
// zlib encoding (see ./zlib-rect.ts). Pixels are requested as 32-bit little-endian with red in
// the lowest byte, so the buffer is RGBX. Key and pointer events go the other way.
import { EventEmitter } from 'node:events';
import { createConnection, type Socket } from 'node:net';
import { KubeqaError } from '../../domain/errors.js';
import type { Frame } from '../../domain/needles/types.js';
import { ENCODING_ZLIB, ZlibRectDecoder } from './zlib-rect.js';

const ENCODING_RAW = 0;
const ENCODING_DESKTOP_SIZE = -223;
/** Pseudo-encoding: deflate level 1 (QEMU's default is 9, which costs its CPU for little gain). */
const ENCODING_COMPRESS_LEVEL_1 = -256 + 1;

/**
 * How framebuffer rectangles travel. 'raw' (the default) is plain pixels; 'zlib' is the same
 * pixels through one deflate stream. On a local socket raw measured faster (bench/vnc,
 * docs/benchmarks.md); zlib pays off only where bandwidth, not CPU, is short.
 */
export type VncEncoding = 'raw' | 'zlib';

export interface VncConnectOptions {
  encoding?: VncEncoding;
  /**
   * Least time between two incremental update requests, in ms (0: ask again as soon as an update
   * arrives). QEMU refreshes a connected display while a request is pending, under its global
   * lock; pacing the requests leaves a busy guest more of the CPU at the cost of seeing a change
   * up to this much later. A full update (`requestFullUpdate`) is never delayed.
   */
  updateIntervalMs?: number;
}

/** Buffered reads of exact byte counts from a socket. */
class ByteReader {
  private chunks: Buffer[] = [];
  private available = 0;
  private waiter: { n: number; resolve: (b: Buffer) => void; reject: (e: Error) => void } | undefined;
  private error: Error | undefined;

  push(chunk: Buffer): void {
    this.chunks.push(chunk);
    this.available += chunk.length;
    this.serve();
  }

  fail(error: Error): void {
    this.error = error;
    const waiter = this.waiter;
    this.waiter = undefined;
    waiter?.reject(error);
  }

  read(n: number): Promise<Buffer> {
    if (this.error) return Promise.reject(this.error);
    if (this.available >= n) return Promise.resolve(this.take(n));
    return new Promise((resolve, reject) => {
      this.waiter = { n, resolve, reject };
    });
  }

  private serve(): void {
    if (this.waiter && this.available >= this.waiter.n) {
      const waiter = this.waiter;
      this.waiter = undefined;
      waiter.resolve(this.take(waiter.n));
    }
  }

  private take(n: number): Buffer {
    const first = this.chunks[0];
    if (first && first.length >= n) {
      const out = first.subarray(0, n);
      if (first.length === n) this.chunks.shift();
      else this.chunks[0] = first.subarray(n);
      this.available -= n;
      return out;
    }
    const out = Buffer.allocUnsafe(n);
    let offset = 0;
    while (offset < n) {
      const chunk = this.chunks[0] as Buffer;
      const count = Math.min(chunk.length, n - offset);
      chunk.copy(out, offset, 0, count);
      offset += count;
      if (count === chunk.length) this.chunks.shift();
      else this.chunks[0] = chunk.subarray(count);
    }
    this.available -= n;
    return out;
  }
}

export interface VncStats {
  updates: number;
  rects: number;
  /** Bytes of rectangle data received (compressed where the encoding compresses). */
  bytes: number;
  /** Pixels received (the sum of the rectangles' areas). */
  pixels: number;
}

export class VncClient {
  width = 0;
  height = 0;
  name = '';
  private fb = new Uint8Array(0);
  private readonly reader = new ByteReader();
  private readonly emitter = new EventEmitter();
  private closed = false;
  private buttons = 0;
  private pointer = { x: 0, y: 0 };
  /** Increments on every framebuffer update with at least one rectangle. */
  generation = 0;
  /** When the last update arrived (Date.now()). */
  lastUpdateAt = 0;
  readonly stats: VncStats = { updates: 0, rects: 0, bytes: 0, pixels: 0 };
  private zlib: ZlibRectDecoder | undefined;
  private lastRequestAt = 0;
  private pacedRequest: NodeJS.Timeout | undefined;

  private constructor(
    private readonly socket: Socket,
    readonly encoding: VncEncoding,
    private readonly updateIntervalMs: number,
  ) {
    socket.on('data', (chunk: Buffer) => this.reader.push(chunk));
    const onEnd = () => {
      this.closed = true;
      clearTimeout(this.pacedRequest);
      this.reader.fail(new KubeqaError('KQ_ERR_QEMU', 'the VNC connection closed'));
      this.zlib?.close();
      this.emitter.emit('close');
    };
    socket.on('close', onEnd);
    socket.on('error', onEnd);
  }

  /** Connect to a unix socket path or { host, port }, handshake and start receiving the screen. */
  static async connect(
    target: string | { host: string; port: number },
    options: VncConnectOptions = {},
  ): Promise<VncClient> {
    const encoding = options.encoding ?? 'raw';
    if (encoding !== 'raw' && encoding !== 'zlib') {
      throw new KubeqaError(
        'KQ_ERR_INVALID_ARGUMENT',
        `unknown VNC encoding ${JSON.stringify(encoding)}`,
        'use "raw" or "zlib"',
      );
    }
    const interval = options.updateIntervalMs ?? 0;
    if (!Number.isInteger(interval) || interval < 0) {
      throw new KubeqaError(
        'KQ_ERR_INVALID_ARGUMENT',
        `VNC update interval must be a whole number of ms ≥ 0, got ${interval}`,
        'use 0 (no pacing) or e.g. 100',
      );
    }
    const socket = typeof target === 'string' ? createConnection(target) : createConnection(target);
    await new Promise<void>((resolve, reject) => {
      socket.once('connect', resolve);
      socket.once('error', reject);
    });
    socket.setNoDelay?.(true);
    const client = new VncClient(socket, encoding, interval);
    await client.handshake();
    void client.receiveLoop().catch(() => undefined);
    return client;
  }

  private async handshake(): Promise<void> {
    const version = (await this.reader.read(12)).toString('latin1');
    if (!/^RFB 003\.00[3-8]\n$/.test(version)) {
      throw new KubeqaError('KQ_ERR_QEMU', `not a VNC server (greeting ${JSON.stringify(version)})`);
    }
    if (version !== 'RFB 003.008\n') {
      throw new KubeqaError('KQ_ERR_QEMU', `VNC server speaks ${version.trim()}, need RFB 003.008`);
    }
    this.socket.write('RFB 003.008\n');
    const count = (await this.reader.read(1))[0] as number;
    if (count === 0) {
      const len = (await this.reader.read(4)).readUInt32BE(0);
      const reason = (await this.reader.read(len)).toString('utf8');
      throw new KubeqaError('KQ_ERR_QEMU', `VNC server refused the connection: ${reason}`);
    }
    const types = [...(await this.reader.read(count))];
    if (!types.includes(1)) {
      throw new KubeqaError(
        'KQ_ERR_QEMU',
        `VNC server offers security types ${types.join(',')}, not None (1)`,
        'start QEMU with a VNC server without password',
      );
    }
    this.socket.write(Buffer.from([1]));
    const result = (await this.reader.read(4)).readUInt32BE(0);
    if (result !== 0) throw new KubeqaError('KQ_ERR_QEMU', 'VNC security handshake failed');
    this.socket.write(Buffer.from([1])); // ClientInit: shared
    const init = await this.reader.read(24);
    this.resize(init.readUInt16BE(0), init.readUInt16BE(2));
    const nameLength = init.readUInt32BE(20);
    this.name = (await this.reader.read(nameLength)).toString('utf8');
    // SetPixelFormat: 32 bpp, depth 24, little endian, true colour, 255 each, shifts R0 G8 B16.
    const pf = Buffer.alloc(20);
    pf[0] = 0;
    pf[4] = 32;
    pf[5] = 24;
    pf[6] = 0;
    pf[7] = 1;
    pf.writeUInt16BE(255, 8);
    pf.writeUInt16BE(255, 10);
    pf.writeUInt16BE(255, 12);
    pf[14] = 0;
    pf[15] = 8;
    pf[16] = 16;
    this.socket.write(pf);
    // Preferred first: QEMU picks the first encoding of the list it knows.
    const encodings =
      this.encoding === 'zlib'
        ? [ENCODING_ZLIB, ENCODING_RAW, ENCODING_DESKTOP_SIZE, ENCODING_COMPRESS_LEVEL_1]
        : [ENCODING_RAW, ENCODING_DESKTOP_SIZE];
    const se = Buffer.alloc(4 + 4 * encodings.length);
    se[0] = 2;
    se.writeUInt16BE(encodings.length, 2);
    encodings.forEach((e, i) => {
      se.writeInt32BE(e, 4 + 4 * i);
    });
    this.socket.write(se);
    this.requestUpdate(false);
  }

  private resize(width: number, height: number): void {
    this.width = width;
    this.height = height;
    this.fb = new Uint8Array(width * height * 4);
  }

  /** Ask for the whole screen now (QEMU answers at its next refresh), not only what changes. */
  requestFullUpdate(): void {
    this.requestUpdate(false);
  }

  /** The next incremental request, no sooner than updateIntervalMs after the last request. */
  private requestNextUpdate(): void {
    const wait = this.lastRequestAt + this.updateIntervalMs - Date.now();
    if (wait <= 0) {
      this.requestUpdate(true);
      return;
    }
    clearTimeout(this.pacedRequest);
    this.pacedRequest = setTimeout(() => this.requestUpdate(true), wait);
  }

  private requestUpdate(incremental: boolean): void {
    if (this.closed) return;
    if (!incremental) clearTimeout(this.pacedRequest);
    this.lastRequestAt = Date.now();
    const msg = Buffer.alloc(10);
    msg[0] = 3;
    msg[1] = incremental ? 1 : 0;
    msg.writeUInt16BE(0, 2);
    msg.writeUInt16BE(0, 4);
    msg.writeUInt16BE(this.width, 6);
    msg.writeUInt16BE(this.height, 8);
    this.socket.write(msg);
  }

  private async receiveLoop(): Promise<void> {
    for (;;) {
      const type = (await this.reader.read(1))[0];
      switch (type) {
        case 0:
          await this.onFramebufferUpdate();
          break;
        case 1: {
          const head = await this.reader.read(5);
          await this.reader.read(head.readUInt16BE(3) * 6);
          break;
        }
        case 2:
          break; // bell
        case 3: {
          const head = await this.reader.read(7);
          await this.reader.read(head.readUInt32BE(3));
          break;
        }
        default:
          throw new KubeqaError('KQ_ERR_QEMU', `unexpected VNC server message type ${String(type)}`);
      }
    }
  }

  private async onFramebufferUpdate(): Promise<void> {
    const head = await this.reader.read(3);
    const rects = head.readUInt16BE(1);
    let resized = false;
    for (let i = 0; i < rects; i++) {
      const r = await this.reader.read(12);
      const x = r.readUInt16BE(0);
      const y = r.readUInt16BE(2);
      const w = r.readUInt16BE(4);
      const h = r.readUInt16BE(6);
      const encoding = r.readInt32BE(8);
      if (encoding === ENCODING_RAW) {
        const data = await this.reader.read(w * h * 4);
        this.stats.bytes += data.length;
        this.blit(x, y, w, h, data);
        this.stats.pixels += w * h;
      } else if (encoding === ENCODING_ZLIB && this.encoding === 'zlib') {
        const length = (await this.reader.read(4)).readUInt32BE(0);
        const compressed = await this.reader.read(length);
        this.stats.bytes += 4 + length;
        this.zlib ??= new ZlibRectDecoder();
        const data = await this.zlib.inflate(compressed, w * h * 4);
        this.blit(x, y, w, h, data);
        this.stats.pixels += w * h;
      } else if (encoding === ENCODING_DESKTOP_SIZE) {
        this.resize(w, h);
        resized = true;
      } else {
        throw new KubeqaError('KQ_ERR_QEMU', `VNC server sent unrequested encoding ${encoding}`);
      }
    }
    this.stats.updates++;
    this.stats.rects += rects;
    if (rects > 0) {
      this.generation++;
      this.lastUpdateAt = Date.now();
      this.emitter.emit('update');
    }
    // A new size needs a full (non-incremental) update to fill the new buffer.
    if (resized) this.requestUpdate(false);
    else this.requestNextUpdate();
  }

  private blit(x: number, y: number, w: number, h: number, data: Buffer): void {
    if (x + w > this.width || y + h > this.height) return;
    const stride = this.width * 4;
    const rowBytes = w * 4;
    if (x === 0 && w === this.width) {
      this.fb.set(data, y * stride);
      return;
    }
    for (let row = 0; row < h; row++) {
      this.fb.set(data.subarray(row * rowBytes, (row + 1) * rowBytes), (y + row) * stride + x * 4);
    }
  }

  /** A copy of the current screen (RGBX). */
  frame(): Frame {
    return { width: this.width, height: this.height, channels: 4, data: this.fb.slice() };
  }

  /** Resolve at the next update with content (true), or false after timeoutMs or on close. */
  waitForUpdate(timeoutMs: number): Promise<boolean> {
    if (this.closed) return Promise.resolve(false);
    return new Promise((resolve) => {
      const done = (value: boolean) => {
        clearTimeout(timer);
        this.emitter.off('update', onUpdate);
        this.emitter.off('close', onClose);
        resolve(value);
      };
      const onUpdate = () => done(true);
      const onClose = () => done(false);
      const timer = setTimeout(() => done(false), timeoutMs);
      this.emitter.on('update', onUpdate);
      this.emitter.once('close', onClose);
    });
  }

  get isClosed(): boolean {
    return this.closed;
  }

  keyEvent(keysym: number, down: boolean): void {
    const msg = Buffer.alloc(8);
    msg[0] = 4;
    msg[1] = down ? 1 : 0;
    msg.writeUInt32BE(keysym >>> 0, 4);
    this.socket.write(msg);
  }

  /** Press the keys in order, then release them in reverse order. */
  pressKeys(keysyms: number[]): void {
    for (const k of keysyms) this.keyEvent(k, true);
    for (const k of [...keysyms].reverse()) this.keyEvent(k, false);
  }

  pointerEvent(x: number, y: number, buttons = this.buttons): void {
    this.pointer = { x, y };
    this.buttons = buttons;
    const msg = Buffer.alloc(6);
    msg[0] = 5;
    msg[1] = buttons;
    msg.writeUInt16BE(Math.max(0, Math.min(0xffff, Math.round(x))), 2);
    msg.writeUInt16BE(Math.max(0, Math.min(0xffff, Math.round(y))), 4);
    this.socket.write(msg);
  }

  get pointerPosition(): { x: number; y: number } {
    return { ...this.pointer };
  }

  /** Wait until everything written so far has been handed to the kernel. */
  flush(): Promise<void> {
    return new Promise((resolve) => {
      if (this.socket.writableLength === 0) resolve();
      else this.socket.once('drain', () => resolve());
    });
  }

  close(): void {
    this.closed = true;
    clearTimeout(this.pacedRequest);
    this.zlib?.close();
    this.socket.destroy();
  }
}

/** RFB button mask bits (left, middle, right). */
export const BUTTONS = { left: 1, middle: 2, right: 4 } as const;
