// A VNC (RFB 3.8) client for QEMU's built-in server on a local socket, security type None.
// It keeps a copy of the guest's screen current while someone needs it: after each framebuffer
// update it asks for the next incremental one, so QEMU sends changes as they happen (at its own
// refresh rate, or paced). In 'on-demand' mode (the runner's) it asks only while a consumer holds
// a demand (a screen check, the video, the live view) and for a short linger after the last one
// ends; with nobody looking it sends no requests, so neither QEMU nor this process spends time on
// frames nobody uses (a test waiting on the serial console needs none). Raw
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
  /**
   * 'continuous' (the default): always keep an update request pending. 'on-demand': only while a
   * demand is held (see `demand()`) and for `lingerMs` after the last one is released.
   */
  requests?: 'continuous' | 'on-demand';
  /** On demand: how long requests go on after the last demand ends (default 2000 ms). */
  lingerMs?: number;
}

/** A consumer's need for current frames; release it when done (idempotent). */
export interface ScreenDemand {
  /** Change the least time between update requests this consumer needs (ms, 0: as they come). */
  setInterval(ms: number): void;
  release(): void;
}

/** The least interval any demand asks for, never below `floor` (pure; exported for tests). */
export function requestInterval(floor: number, demands: Iterable<number>): number | undefined {
  let least: number | undefined;
  for (const d of demands) least = least === undefined ? d : Math.min(least, d);
  return least === undefined ? undefined : Math.max(floor, least);
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
  /** Framebuffer update requests sent (incremental and full). */
  requests: number;
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
  readonly stats: VncStats = { updates: 0, rects: 0, bytes: 0, pixels: 0, requests: 0 };
  private zlib: ZlibRectDecoder | undefined;
  private lastRequestAt = 0;
  private pacedRequest: NodeJS.Timeout | undefined;
  /** A request was sent and its update has not arrived yet. */
  private outstanding = false;
  private readonly demands = new Map<symbol, number>();
  /** On demand: requests go on until then after the last demand ended (at this interval). */
  private lingerUntil = 0;
  private lingerInterval = 0;
  /** The last frame() copy and the generation it shows: consumers of one screen share it. */
  private snapshot: { generation: number; frame: Frame } | undefined;

  private constructor(
    private readonly socket: Socket,
    readonly encoding: VncEncoding,
    private readonly updateIntervalMs: number,
    readonly requests: 'continuous' | 'on-demand',
    private readonly lingerMs: number,
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
    const requests = options.requests ?? 'continuous';
    if (requests !== 'continuous' && requests !== 'on-demand') {
      throw new KubeqaError(
        'KQ_ERR_INVALID_ARGUMENT',
        `unknown VNC request mode ${JSON.stringify(requests)}`,
        'use "continuous" or "on-demand"',
      );
    }
    const linger = options.lingerMs ?? 2000;
    if (!Number.isInteger(linger) || linger < 0) {
      throw new KubeqaError(
        'KQ_ERR_INVALID_ARGUMENT',
        `VNC linger must be a whole number of ms ≥ 0, got ${linger}`,
        'use e.g. 2000',
      );
    }
    const socket = typeof target === 'string' ? createConnection(target) : createConnection(target);
    await new Promise<void>((resolve, reject) => {
      socket.once('connect', resolve);
      socket.once('error', reject);
    });
    socket.setNoDelay?.(true);
    const client = new VncClient(socket, encoding, interval, requests, linger);
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

  /**
   * Declare that current frames are needed, at least every `intervalMs` (0: as fast as QEMU
   * sends them; never faster than updateIntervalMs). Requests start at once if none is pending.
   * In 'continuous' mode demands can only make requests faster than the default.
   */
  demand(intervalMs = 0): ScreenDemand {
    const key = Symbol('demand');
    const check = (ms: number) => {
      if (!Number.isFinite(ms) || ms < 0) {
        throw new KubeqaError(
          'KQ_ERR_INVALID_ARGUMENT',
          `a screen demand needs an interval ≥ 0 ms, got ${ms}`,
        );
      }
      return ms;
    };
    this.demands.set(key, check(intervalMs));
    this.kick();
    return {
      setInterval: (ms: number) => {
        if (!this.demands.has(key)) return;
        this.demands.set(key, check(ms));
        this.kick();
      },
      release: () => {
        const ms = this.demands.get(key);
        if (ms === undefined) return;
        this.demands.delete(key);
        if (this.demands.size === 0 && this.requests === 'on-demand') {
          // keep looking a little longer: the next step (a key press, then a check) usually follows
          this.lingerUntil = Date.now() + this.lingerMs;
          this.lingerInterval = Math.max(this.updateIntervalMs, ms);
        }
      },
    };
  }

  /** Whether the buffer is being kept current (requests are being sent), as opposed to paused. */
  get live(): boolean {
    return this.wantedInterval() !== undefined;
  }

  /** The interval requests are sent at now, or undefined when nobody needs frames. */
  private wantedInterval(): number | undefined {
    const wanted = requestInterval(this.updateIntervalMs, this.demands.values());
    if (wanted !== undefined) return wanted;
    if (this.requests === 'continuous') return this.updateIntervalMs;
    if (Date.now() < this.lingerUntil) return this.lingerInterval;
    return undefined;
  }

  /** (Re)plan the next request after a change of demand. */
  private kick(): void {
    if (this.closed || this.width === 0) return;
    if (this.outstanding) {
      // a request is pending; a shorter interval only matters for the next one
      return;
    }
    clearTimeout(this.pacedRequest);
    this.pacedRequest = undefined;
    this.requestNextUpdate();
  }

  /**
   * Make the buffer current: ask for the whole screen and wait for it (at most timeoutMs).
   * For a consumer that needs one current frame after frames were not requested for a while.
   */
  async refresh(timeoutMs: number): Promise<boolean> {
    if (this.closed) return false;
    const updated = this.waitForUpdate(timeoutMs);
    this.requestUpdate(false);
    return updated;
  }

  /** The next incremental request, no sooner than the wanted interval after the last request. */
  private requestNextUpdate(): void {
    const interval = this.wantedInterval();
    if (interval === undefined) return; // nobody needs frames: no request
    const wait = this.lastRequestAt + interval - Date.now();
    if (wait <= 0) {
      this.requestUpdate(true);
      return;
    }
    clearTimeout(this.pacedRequest);
    this.pacedRequest = setTimeout(() => {
      this.pacedRequest = undefined;
      if (!this.outstanding && this.wantedInterval() !== undefined) this.requestUpdate(true);
    }, wait);
  }

  private requestUpdate(incremental: boolean): void {
    if (this.closed) return;
    clearTimeout(this.pacedRequest);
    this.pacedRequest = undefined;
    this.outstanding = true;
    this.stats.requests++;
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
    this.outstanding = false;
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

  /**
   * A copy of the screen as of the last complete update (RGBX). Calls between two updates share
   * one copy: treat it as read-only.
   */
  frame(): Frame {
    if (this.snapshot?.generation === this.generation) return this.snapshot.frame;
    const frame = { width: this.width, height: this.height, channels: 4 as const, data: this.fb.slice() };
    this.snapshot = { generation: this.generation, frame };
    return frame;
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
