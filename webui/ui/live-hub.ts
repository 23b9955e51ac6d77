// The live view's fan-out: the runner of a job sends each new screen frame and its progress once;
// every viewer's websocket gets them from here. A viewer that cannot keep up skips frames (only the
// newest one matters), so a slow browser never slows the runner or the other viewers.
// State lives in this process: one web server per deployment sees all runners of its jobs.

/** What a websocket needs from us (ws's WebSocket satisfies it). */
export interface LiveSocket {
  send(data: string | Buffer): void;
  readonly bufferedAmount: number;
  readonly readyState: number;
}

export interface LiveStatus {
  module?: string;
  step?: number;
  /** Free text, e.g. the current test API call. */
  activity?: string;
}

interface JobLive {
  frame?: Buffer;
  frames: number;
  status: LiveStatus;
  serial: string[];
  viewers: Set<LiveSocket>;
  ended?: { state: string; result: string };
}

const OPEN = 1;
/** A viewer with more than this queued is behind: it gets no new frame until it caught up. */
const MAX_BUFFERED = 4 * 1024 * 1024;
const SERIAL_KEPT = 500;

export class LiveHub {
  private readonly jobs = new Map<number, JobLive>();

  private job(id: number): JobLive {
    let live = this.jobs.get(id);
    if (!live) {
      live = { frames: 0, status: {}, serial: [], viewers: new Set() };
      this.jobs.set(id, live);
    }
    return live;
  }

  /** Frames received for this job so far (and whether anyone is watching). */
  stats(id: number): { frames: number; viewers: number } {
    const live = this.jobs.get(id);
    return { frames: live?.frames ?? 0, viewers: live?.viewers.size ?? 0 };
  }

  frame(id: number, image: Buffer): void {
    const live = this.job(id);
    live.frame = image;
    live.frames++;
    for (const viewer of live.viewers) {
      if (viewer.readyState !== OPEN) continue;
      if (viewer.bufferedAmount > MAX_BUFFERED) continue;
      viewer.send(image);
    }
  }

  status(id: number, status: LiveStatus, serial: readonly string[]): void {
    const live = this.job(id);
    live.status = { ...live.status, ...status };
    if (serial.length > 0) live.serial = [...live.serial, ...serial].slice(-SERIAL_KEPT);
    this.broadcast(live, JSON.stringify({ type: 'status', status: live.status, serial }));
  }

  /** The job finished: viewers are told, the kept frame is dropped. */
  end(id: number, state: string, result: string): void {
    const live = this.jobs.get(id);
    if (!live) return;
    this.broadcast(live, JSON.stringify({ type: 'end', state, result }));
    this.jobs.delete(id);
  }

  /** A new viewer gets what is known at once (status, serial backlog, newest frame), then updates. */
  watch(id: number, viewer: LiveSocket): () => void {
    const live = this.job(id);
    live.viewers.add(viewer);
    viewer.send(JSON.stringify({ type: 'status', status: live.status, serial: live.serial, backlog: true }));
    if (live.frame) viewer.send(live.frame);
    return () => {
      live.viewers.delete(viewer);
      if (live.viewers.size === 0 && live.frames === 0 && live.serial.length === 0) this.jobs.delete(id);
    };
  }

  private broadcast(live: JobLive, text: string): void {
    for (const viewer of live.viewers) if (viewer.readyState === OPEN) viewer.send(text);
  }
}
