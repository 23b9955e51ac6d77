// The matcher's worker thread: owns the OpenCV engine, so the runner's event loop (VNC, serial,
// QMP) never waits for a template match. One request at a time, answered in order.
import { parentPort } from 'node:worker_threads';
import { type ErrorCode, isKubeqaError } from '../../domain/errors.js';
import type { NeedleArea } from '../../domain/needles/types.js';
import { type AreaResult, MatchEngine, type NeedleSpec, type ScreenBand } from './engine.js';
import { effectiveMargin } from './scoring.js';

export type WorkerRequest =
  | {
      id: number;
      kind: 'match';
      band: ScreenBand;
      needles: NeedleSpec[];
      fullSearch: boolean;
      verdictOnly?: boolean;
    }
  | { id: number; kind: 'preload'; needles: NeedleSpec[] };

export type WorkerResponse =
  | { id: number; ok: true; results?: AreaResult[][] }
  | { id: number; ok: false; message: string; stack?: string; code?: ErrorCode };

const port = parentPort;
if (!port) throw new Error('match-worker.ts runs only as a worker thread');

let engine: MatchEngine | undefined;

port.on('message', (request: WorkerRequest) => {
  let response: WorkerResponse;
  try {
    engine ??= new MatchEngine();
    if (request.kind === 'preload') {
      engine.preload(request.needles);
      response = { id: request.id, ok: true };
    } else {
      const margins = (area: NeedleArea) => effectiveMargin(area.margin, request.fullSearch);
      const results = engine.match(request.band, request.needles, margins, {
        verdictOnly: request.verdictOnly === true,
      });
      response = { id: request.id, ok: true, results };
    }
  } catch (error) {
    const e = error as Error;
    response = { id: request.id, ok: false, message: e.message, stack: e.stack };
    // a missing tool (the FFT addon, OpenCV's binding) keeps its code: its message says what to do
    if (isKubeqaError(error)) response.code = error.code;
  }
  port.postMessage(response);
});

port.postMessage({ id: 0, ok: true } satisfies WorkerResponse);
