// The matcher the runner uses: validates the frame, cuts out the rows the search windows need,
// hands them to a worker thread running OpenCV, and turns the area results into ranked
// candidates with openQA's verdict rules.
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { Worker } from 'node:worker_threads';
import { KubeqaError } from '../../domain/errors.js';
import type {
  AreaMatch,
  Frame,
  Matcher,
  MatchOptions,
  MatchResult,
  Needle,
} from '../../domain/needles/types.js';
import type { AreaResult, NeedleSpec, ScreenBand } from './engine.js';
import type { WorkerRequest, WorkerResponse } from './match-worker.js';
import { candidateFrom, compareCandidates, effectiveMargin, searchWindow } from './scoring.js';

type WithoutId<T> = T extends unknown ? Omit<T, 'id'> : never;

function startWorker(): Worker {
  const here = import.meta.url;
  if (here.endsWith('.ts')) {
    // Running from TypeScript sources (tests, `node --import tsx`): the worker needs tsx too.
    // tsx's ESM API (dist/esm/api/index.mjs); the package exports it only under "import".
    const require = createRequire(here);
    const tsxRoot = dirname(require.resolve('tsx/package.json'));
    const tsx = pathToFileURL(join(tsxRoot, 'dist', 'esm', 'api', 'index.mjs')).href;
    const entry = new URL('./match-worker.ts', here).href;
    const code = `import(${JSON.stringify(tsx)}).then(({ register }) => { register(); return import(${JSON.stringify(entry)}); })`;
    return new Worker(code, { eval: true });
  }
  return new Worker(new URL('./match-worker.js', here));
}

export function checkFrame(frame: Frame): void {
  const { width, height, channels, data } = frame ?? ({} as Frame);
  const problem =
    !Number.isInteger(width) || width < 1 || !Number.isInteger(height) || height < 1
      ? `width ${width} × height ${height} is not a positive size`
      : channels !== 3 && channels !== 4
        ? `channels must be 3 or 4, found ${channels}`
        : !(data instanceof Uint8Array)
          ? 'data must be a Uint8Array'
          : data.length < width * height * channels
            ? `data has ${data.length} bytes, ${width}×${height}×${channels} needs ${width * height * channels}`
            : undefined;
  if (problem) {
    throw new KubeqaError(
      'KQ_ERR_INVALID_ARGUMENT',
      `invalid frame: ${problem}`,
      'pass the frame as captured',
    );
  }
}

function needleSize(needle: Needle): { width: number; height: number } {
  if (!needle.imageWidth || !needle.imageHeight) {
    throw new KubeqaError(
      'KQ_ERR_INVALID_ARGUMENT',
      `needle ${needle.name} has no image size`,
      'load needles with loadNeedleDir(), which reads it from the PNG',
    );
  }
  return { width: needle.imageWidth, height: needle.imageHeight };
}

/**
 * The part of the frame every search window (plus one pixel of blur context on each side) lies
 * in: only those rows and columns are copied to the worker.
 */
export function bandFor(frame: Frame, needles: Needle[], fullSearch: boolean): ScreenBand {
  let top = frame.height;
  let bottom = 0;
  let left = frame.width;
  let right = 0;
  for (const needle of needles) {
    const size = needleSize(needle);
    for (const area of needle.areas) {
      if (area.type !== 'match') continue;
      const w = searchWindow(area, effectiveMargin(area.margin, fullSearch), size, frame);
      if (!w) continue;
      top = Math.min(top, w.top);
      bottom = Math.max(bottom, w.bottom);
      left = Math.min(left, w.left);
      right = Math.max(right, w.right);
    }
  }
  if (bottom <= top || right <= left) {
    top = 0;
    bottom = 1;
    left = 0;
    right = 1;
  }
  top = Math.max(0, top - 1);
  bottom = Math.min(frame.height, bottom + 1);
  left = Math.max(0, left - 1);
  right = Math.min(frame.width, right + 1);
  const rowBytes = frame.width * frame.channels;
  const cols = right - left;
  const rows = bottom - top;
  let data: Uint8Array;
  if (cols === frame.width) {
    data = frame.data.slice(top * rowBytes, bottom * rowBytes);
  } else {
    const bytes = cols * frame.channels;
    data = new Uint8Array(rows * bytes);
    for (let r = 0, from = top * rowBytes + left * frame.channels; r < rows; r++, from += rowBytes) {
      data.set(frame.data.subarray(from, from + bytes), r * bytes);
    }
  }
  return {
    width: frame.width,
    height: frame.height,
    channels: frame.channels,
    top,
    rows,
    left,
    cols,
    data,
  };
}

function specOf(needle: Needle): NeedleSpec {
  return { pngPath: needle.pngPath, areas: needle.areas };
}

/** Ranks the needles from their area results (pure; exported for tests). */
export function verdict(needles: Needle[], results: AreaResult[][]): MatchResult {
  const candidates = needles.map((needle, i) => {
    const areas: AreaMatch[] = (results[i] ?? []).map((r) => {
      const area = needle.areas[r.area]!;
      return {
        x: r.x,
        y: r.y,
        width: area.width,
        height: area.height,
        similarity: r.similarity,
        required: area.match / 100,
        area: r.area,
        ...(r.bounded ? { bounded: true as const } : {}),
      };
    });
    return candidateFrom(needle, areas);
  });
  candidates.sort(compareCandidates);
  const best = candidates[0];
  if (best?.ok) {
    return {
      ok: true,
      needle: best.needle,
      areas: best.areas,
      similarity: best.similarity,
      candidates: candidates.slice(1),
    };
  }
  return { ok: false, candidates };
}

type Waiter = { resolve: (r: WorkerResponse) => void; reject: (e: Error) => void };

/**
 * The one OpenCV worker of this process. OpenCV's binding keeps its JavaScript classes in
 * process-wide handles, so it may be loaded in one thread at a time: every matcher shares this
 * worker (reference-counted), and nothing else in the process loads OpenCV.
 */
class SharedWorker {
  /** The worker now running, with its start-up and the requests it has not answered. */
  private running: Running | undefined;
  private nextId = 1;
  users = 0;

  private start(): Running {
    if (this.running) return this.running;
    const worker = startWorker();
    // each worker has its own waiters: a stopped worker's late answer can settle nothing of the next
    const pending = new Map<number, Waiter>();
    const ready = new Promise<void>((resolve, reject) => {
      pending.set(0, { resolve: () => resolve(), reject });
    });
    ready.catch(() => {}); // reported through the request that waits on it
    const running: Running = { worker, ready, pending };
    this.running = running;
    worker.on('message', (response: WorkerResponse) => {
      const waiter = pending.get(response.id);
      if (!waiter) return;
      pending.delete(response.id);
      waiter.resolve(response);
    });
    const fail = (error: Error) => {
      if (this.running === running) this.running = undefined; // the next request starts a new worker
      rejectAll(
        pending,
        new KubeqaError(
          'KQ_ERR_INTERNAL',
          `the needle matcher's worker stopped: ${error.message}`,
          'see the log; the next check starts a new worker',
          { cause: error },
        ),
      );
    };
    worker.on('error', fail);
    worker.on('exit', (code) => fail(new Error(`worker exited with code ${code}`)));
    return running;
  }

  /** Sends a request; `track` receives its id so its owner can cancel it. */
  async request(
    body: WithoutId<WorkerRequest>,
    transfer: ArrayBuffer[],
    track: Set<number>,
  ): Promise<WorkerResponse> {
    const running = this.start();
    await running.ready;
    const id = this.nextId++;
    track.add(id);
    try {
      return await new Promise<WorkerResponse>((resolve, reject) => {
        running.pending.set(id, { resolve, reject });
        running.worker.postMessage({ ...body, id } as WorkerRequest, transfer);
      });
    } finally {
      track.delete(id);
    }
  }

  cancel(ids: Set<number>, error: Error): void {
    const pending = this.running?.pending;
    for (const id of ids) {
      pending?.get(id)?.reject(error);
      pending?.delete(id); // its answer, when it comes, is dropped
    }
  }

  /**
   * Stops the worker. Whatever still waits on it — its start-up, or a request that was waiting
   * for the start-up and so was not yet tracked by its matcher — fails instead of waiting forever.
   */
  async stop(): Promise<void> {
    const running = this.running;
    this.running = undefined;
    if (!running) return;
    rejectAll(
      running.pending,
      new KubeqaError('KQ_ERR_INTERNAL', 'the matcher was closed during a check', 'create a new one'),
    );
    await running.worker.terminate();
  }
}

interface Running {
  worker: Worker;
  ready: Promise<void>;
  pending: Map<number, Waiter>;
}

function rejectAll(pending: Map<number, Waiter>, error: Error): void {
  const waiters = [...pending.values()];
  pending.clear();
  for (const waiter of waiters) waiter.reject(error);
}

const shared = new SharedWorker();

class WorkerMatcher implements Matcher {
  private readonly mine = new Set<number>();
  private closed = false;

  constructor() {
    shared.users++;
  }

  private async request(
    body: WithoutId<WorkerRequest>,
    transfer: ArrayBuffer[] = [],
  ): Promise<WorkerResponse> {
    if (this.closed)
      throw new KubeqaError('KQ_ERR_INVALID_ARGUMENT', 'the matcher is closed', 'create a new one');
    const response = await shared.request(body, transfer, this.mine);
    if (!response.ok) {
      const error = new KubeqaError(
        response.code ?? 'KQ_ERR_INTERNAL',
        `needle matching failed: ${response.message}`,
      );
      if (response.stack) error.stack = response.stack;
      throw error;
    }
    return response;
  }

  async match(frame: Frame, candidates: Needle[], options: MatchOptions): Promise<MatchResult> {
    checkFrame(frame);
    if (candidates.length === 0) return { ok: false, candidates: [] };
    const band = bandFor(frame, candidates, options.fullSearch);
    const response = await this.request(
      {
        kind: 'match',
        band,
        needles: candidates.map(specOf),
        fullSearch: options.fullSearch,
        verdictOnly: options.verdictOnly === true,
      },
      [band.data.buffer as ArrayBuffer],
    );
    return verdict(candidates, response.ok ? (response.results ?? []) : []);
  }

  async preload(needles: Needle[]): Promise<void> {
    if (needles.length) await this.request({ kind: 'preload', needles: needles.map(specOf) });
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    shared.cancel(this.mine, new KubeqaError('KQ_ERR_INTERNAL', 'the matcher was closed during a check'));
    shared.users--;
    if (shared.users === 0) await shared.stop();
  }
}

/**
 * A matcher. All matchers of a process share one worker thread (started on first use, stopped
 * when the last matcher is closed). Close it when done.
 */
export function createMatcher(): Matcher {
  return new WorkerMatcher();
}
