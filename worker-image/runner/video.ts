// video.webm of the whole run: the current screen is handed to ffmpeg (VP8, realtime settings)
// at a low fixed frame rate. Frames of another size than the video are cropped or padded at the
// top left. Disable with NOVIDEO=1 (openQA's name). When ffmpeg cannot keep up, frames are
// dropped rather than slowing the test.
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { setPriority } from 'node:os';
import { KubeqaError } from '../../domain/errors.js';
import type { Frame } from '../../domain/needles/types.js';
import { pdeathsigArgv, which } from '../../runtime/process-group.js';

export const VIDEO_FPS = 2;
/** The encoder's nice value (higher is lower priority). */
export const VIDEO_NICE = 10;

/** Place `frame` (RGBX or RGB) into an RGBA canvas of width×height (pure; exported for tests). */
export function fitFrame(
  frame: Frame,
  width: number,
  height: number,
  canvas = new Uint8Array(width * height * 4),
): Uint8Array {
  canvas.fill(0);
  const rows = Math.min(height, frame.height);
  const cols = Math.min(width, frame.width);
  for (let y = 0; y < rows; y++) {
    for (let x = 0; x < cols; x++) {
      const src = (y * frame.width + x) * frame.channels;
      const dst = (y * width + x) * 4;
      canvas[dst] = frame.data[src] as number;
      canvas[dst + 1] = frame.data[src + 1] as number;
      canvas[dst + 2] = frame.data[src + 2] as number;
      canvas[dst + 3] = 255;
    }
  }
  return canvas;
}

export class VideoRecorder {
  private child: ChildProcess | undefined;
  private exited: Promise<void> | undefined;
  private stdin: NodeJS.WritableStream | undefined;
  private timer: NodeJS.Timeout | undefined;
  private busy = false;
  /** Frames written so far: the frame number of "now" for frametime. */
  frames = 0;
  private readonly canvas: Uint8Array<ArrayBuffer>;

  constructor(
    private readonly path: string,
    private readonly width: number,
    private readonly height: number,
    private readonly currentFrame: () => Frame,
  ) {
    this.canvas = new Uint8Array(width * height * 4);
  }

  start(): void {
    const ffmpeg = which('ffmpeg');
    if (!ffmpeg) {
      throw new KubeqaError(
        'KQ_ERR_MISSING_TOOL',
        "the command 'ffmpeg' is not installed (needed for video.webm)",
        'apt-get install -y ffmpeg, or set NOVIDEO=1',
      );
    }
    const setpriv = which('setpriv');
    if (!setpriv)
      throw new KubeqaError(
        'KQ_ERR_MISSING_TOOL',
        "the command 'setpriv' is not installed",
        'apt-get install -y util-linux',
      );
    // ffmpeg reads raw frames from a pipe; like QEMU it dies with this process (pdeathsig).
    const [file, argv] = pdeathsigArgv(setpriv, ffmpeg, [
      '-hide_banner',
      '-loglevel',
      'error',
      '-f',
      'rawvideo',
      '-pix_fmt',
      'rgba',
      '-s',
      `${this.width}x${this.height}`,
      '-r',
      String(VIDEO_FPS),
      '-i',
      'pipe:0',
      '-pix_fmt',
      'yuv420p',
      '-c:v',
      'libvpx',
      '-deadline',
      'realtime',
      '-cpu-used',
      '8',
      '-b:v',
      '600k',
      '-threads',
      '1',
      '-y',
      this.path,
    ]);
    const proc = spawn(file, argv, { stdio: ['pipe', 'ignore', 'ignore'] });
    // The encoder runs at a lower priority than QEMU and the runner: under TCG the guest needs
    // every core, and a video frame can wait (frames it cannot take in time are dropped).
    if (proc.pid) {
      try {
        setPriority(proc.pid, VIDEO_NICE);
      } catch {
        // not allowed here: the encoder keeps the runner's priority
      }
    }
    this.child = proc;
    this.exited = new Promise((resolve) => proc.once('exit', () => resolve()));
    this.stdin = proc.stdin ?? undefined;
    this.stdin?.on('error', () => undefined);
    this.tick();
    this.timer = setInterval(() => this.tick(), 1000 / VIDEO_FPS);
  }

  private tick(): void {
    if (!this.stdin || this.busy) return;
    const frame = this.currentFrame();
    fitFrame(frame, this.width, this.height, this.canvas);
    this.frames++;
    const ok = this.stdin.write(Buffer.copyBytesFrom(this.canvas));
    if (!ok) {
      this.busy = true;
      this.stdin.once('drain', () => {
        this.busy = false;
      });
    }
  }

  /** [start, end] seconds of the current frame in the video, as openQA's frametime. */
  frametime(): [string, string] {
    const n = Math.max(0, this.frames - 1);
    return [(n / VIDEO_FPS).toFixed(2), ((n + 1) / VIDEO_FPS).toFixed(2)];
  }

  /** Finish the file; resolves when ffmpeg has written it. */
  async stop(): Promise<boolean> {
    if (this.timer) clearInterval(this.timer);
    if (!this.child) return false;
    this.stdin?.end();
    const done = await Promise.race([
      (this.exited ?? Promise.resolve()).then(() => true),
      new Promise<boolean>((r) => setTimeout(() => r(false), 20_000)),
    ]);
    if (!done) this.child.kill('SIGKILL');
    return existsSync(this.path);
  }
}
