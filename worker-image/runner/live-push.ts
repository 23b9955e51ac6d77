// The runner's side of the live view: sends the screen to the web server whenever it changed (at
// most `fps` times a second, one request in flight, so a slow server never queues frames), and
// the current module/step and new serial lines. Viewers never talk to the runner: the server fans
// out (webui/ui/live-hub.ts). When the server says the job is over (409/404) it stops and calls
// `onJobGone`, so the runner can abort a job that was cancelled.
//   PUT  <url>/api/v1/jobs/<id>/live/frame    (PNG, application/octet-stream)
//   POST <url>/api/v1/jobs/<id>/live/status   {module, step, activity, serial: [lines]}
import { closeSync, openSync, readSync, statSync } from 'node:fs';
import type { Frame } from '../../domain/needles/types.js';
import type { ProgressEvent } from './recorder.js';

/** What live-push needs of the machine's screen (worker-image/vnc's client has it). */
export interface LiveScreen {
  readonly generation: number;
  frame(): Frame;
  waitForUpdate(timeoutMs: number): Promise<boolean>;
  /** Ask for current frames at least this often while the live view runs (the VNC client's). */
  demand?(intervalMs: number): { release(): void };
}

export interface LivePushOptions {
  /** The web server, e.g. http://kubeqa:8080 */
  url: string;
  jobId: number;
  token: string;
  encode: (frame: Frame) => Buffer;
  /** Frames per second at most (default 2). */
  fps?: number;
  /** The serial log to follow (serial0.txt of the result directory). */
  serialLog?: string;
  onJobGone?: (reason: string) => void;
  log?: (line: string) => void;
}

/** One live-view request's limit. */
const REQUEST_TIMEOUT_MS = 30_000;

export class LivePush {
  private stopped = false;
  private module?: string;
  private step = 0;
  private activity?: string;
  private serialOffset = 0;
  private serialRest = '';
  private statusDirty = false;
  private readonly loops: Promise<void>[] = [];
  private wake?: () => void;
  /** Frames the server accepted. */
  framesSent = 0;

  constructor(private readonly options: LivePushOptions) {
    this.loops.push(this.statusLoop());
  }

  /** Start sending the screen (call once the machine runs). */
  attach(screen: LiveScreen): void {
    this.loops.push(this.frameLoop(screen));
  }

  /** Feed the runner's progress events (runJob's onProgress). */
  progress(event: ProgressEvent): void {
    if (event.type === 'module-start') {
      this.module = event.name;
      this.step = 0;
      this.activity = undefined;
    } else if (event.type === 'step') {
      this.step++;
      this.activity =
        event.detail.title ?? (event.detail.needle ? `matched ${event.detail.needle}` : undefined);
    } else if (event.type === 'log') this.activity = event.line.slice(0, 300);
    else return;
    this.statusDirty = true;
    this.wake?.();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.wake?.();
    await Promise.allSettled(this.loops);
  }

  private async request(method: string, path: string, body: Buffer | string, type: string): Promise<boolean> {
    const { url, jobId, token } = this.options;
    try {
      const res = await fetch(`${url}/api/v1/jobs/${jobId}/live/${path}`, {
        method,
        headers: { 'content-type': type, 'x-kubeqa-job-token': token },
        body,
        // the live view is best effort: a server that does not answer must not hold stop()
        signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS),
      });
      await res.arrayBuffer();
      if ([401, 403, 404, 409].includes(res.status)) {
        this.stopped = true;
        this.options.onJobGone?.(`the server refused live data with ${res.status}`);
        return false;
      }
      return res.ok;
    } catch (error) {
      this.options.log?.(`live view: ${(error as Error).message}`);
      return false;
    }
  }

  private async frameLoop(screen: LiveScreen): Promise<void> {
    const interval = 1000 / (this.options.fps ?? 2);
    // the runner asks for frames only while someone needs them: the live view does
    const demand = screen.demand?.(interval);
    try {
      await this.sendFrames(screen, interval);
    } finally {
      demand?.release();
    }
  }

  private async sendFrames(screen: LiveScreen, interval: number): Promise<void> {
    let sent = -1;
    while (!this.stopped) {
      const started = Date.now();
      if (screen.generation !== sent) {
        sent = screen.generation;
        if (
          await this.request('PUT', 'frame', this.options.encode(screen.frame()), 'application/octet-stream')
        )
          this.framesSent++;
      }
      const rest = interval - (Date.now() - started);
      if (rest > 0) await new Promise((r) => setTimeout(r, rest));
      if (screen.generation === sent && !this.stopped) await screen.waitForUpdate(1000);
    }
  }

  private newSerialLines(): string[] {
    const path = this.options.serialLog;
    if (!path) return [];
    let size: number;
    try {
      size = statSync(path).size;
    } catch {
      return [];
    }
    if (size <= this.serialOffset) return [];
    const length = Math.min(size - this.serialOffset, 256 * 1024);
    const buffer = Buffer.alloc(length);
    const fd = openSync(path, 'r');
    try {
      readSync(fd, buffer, 0, length, this.serialOffset);
    } finally {
      closeSync(fd);
    }
    this.serialOffset += length;
    const text = this.serialRest + buffer.toString('utf8');
    const lines = text.split(/\r?\n/);
    this.serialRest = lines.pop() ?? '';
    return lines;
  }

  private async statusLoop(): Promise<void> {
    while (!this.stopped) {
      const serial = this.newSerialLines();
      if (this.statusDirty || serial.length > 0) {
        this.statusDirty = false;
        const body = JSON.stringify({
          ...(this.module ? { module: this.module } : {}),
          step: this.step,
          ...(this.activity ? { activity: this.activity } : {}),
          serial: serial.slice(-1000).map((l) => l.slice(0, 10_000)),
        });
        await this.request('POST', 'status', body, 'application/json');
      }
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, 500);
        this.wake = () => {
          clearTimeout(timer);
          resolve();
        };
      });
    }
  }
}
