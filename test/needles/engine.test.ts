// The matching engine's shortcuts give the answers of the plain way, on the real fixture screens
// and needles: the part of the screen copied for a check (only the rows and columns its windows
// need) decides nothing; without the addon's searches (test/needles/fft.test.ts compares those
// with matchTemplate), an ordinary check's positions scanned in JavaScript pick the same position
// as OpenCV's threshold and distance search, and verdict-only checks ruled out by the bounds'
// prefilter get the exact search's verdicts. OpenCV runs in this test's own process (vitest's
// forks pool), so the engine is used directly, without the matcher's worker.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Frame, Needle, NeedleArea } from '../../domain/needles/types.js';
import { type AreaResult, MatchEngine, type ScreenBand } from '../../worker-image/needles/engine.js';
import { decodePng, loadNeedleDir } from '../../worker-image/needles/index.js';
import { bandFor } from '../../worker-image/needles/matcher.js';
import { effectiveMargin } from '../../worker-image/needles/scoring.js';
import { movedScreen, NEEDLE_DIR, SCREEN_DIR } from './fixture-needles.js';

const SCREENS = ['di-language', 'di-language-down', 'di-location', 'di-keyboard', 'busybox-shell'];

let needles: Needle[];
/** Every search by matchTemplate (no addon), its result scanned in JavaScript. */
let engine: MatchEngine;
/** The same engine without the JavaScript scan: OpenCV finds the near positions. */
let plain: MatchEngine;
const frames = new Map<string, Frame>();

beforeAll(async () => {
  needles = await loadNeedleDir(NEEDLE_DIR);
  engine = new MatchEngine(300, false, undefined, false);
  plain = new MatchEngine(300, false, 0, false);
  for (const name of SCREENS) frames.set(name, decodePng(readFileSync(join(SCREEN_DIR, `${name}.png`))));
  // the location screen moved 3 px right and 7 px down: its areas are found off their recorded
  // position
  frames.set('di-location-moved', movedScreen(frames.get('di-location')!, 3, 7));
});
afterAll(() => {
  engine?.close();
  plain?.close();
});

function wholeScreen(frame: Frame): ScreenBand {
  return {
    width: frame.width,
    height: frame.height,
    channels: frame.channels,
    top: 0,
    rows: frame.height,
    left: 0,
    cols: frame.width,
    data: frame.data,
  };
}

const ordinary = (area: NeedleArea) => effectiveMargin(area.margin, false);
const spec = (n: Needle) => ({ pngPath: n.pngPath, areas: n.areas });

describe('the part of the screen copied for a check', () => {
  it('is the search windows and a one-pixel ring, rows and columns, byte for byte', () => {
    const frame = frames.get('di-language')!;
    const needle = needles.find((n) => n.name === 'di-language')!;
    // the title 184×18 at (412, 16), margin 69: x 343…664, y 0…102, plus the ring
    const band = bandFor(frame, [needle], false);
    expect(band).toMatchObject({ top: 0, rows: 104, left: 342, cols: 324 });
    expect(band.data.length).toBe(104 * 324 * 3);
    for (const [x, y] of [
      [342, 0],
      [500, 50],
      [665, 103],
    ] as const) {
      const i = ((y - band.top) * band.cols + x - band.left) * 3;
      const j = (y * frame.width + x) * 3;
      expect([...band.data.subarray(i, i + 3)]).toEqual([...frame.data.subarray(j, j + 3)]);
    }
    // a full search needs the whole screen
    expect(bandFor(frame, [needle], true)).toMatchObject({ top: 0, rows: 768, left: 0, cols: 1024 });
  });

  it('gives every needle on every screen the results the whole screen gives', () => {
    let compared = 0;
    for (const [name, frame] of frames) {
      for (const needle of needles) {
        const cropped = engine.match(bandFor(frame, [needle], false), [spec(needle)], ordinary);
        const whole = engine.match(wholeScreen(frame), [spec(needle)], ordinary);
        expect(cropped, `${needle.name} on ${name}`).toEqual(whole);
        compared += whole[0]!.length;
      }
    }
    expect(compared).toBeGreaterThanOrEqual(SCREENS.length * needles.length);
  });
});

describe('positions of an ordinary check scanned in JavaScript', () => {
  it('pick the position and similarity OpenCV’s near-position search picks, on every screen', () => {
    const results: AreaResult[] = [];
    for (const [name, frame] of frames) {
      for (const needle of needles) {
        const band = bandFor(frame, [needle], false);
        const scanned = engine.match(band, [spec(needle)], ordinary);
        const found = plain.match(band, [spec(needle)], ordinary);
        expect(scanned, `${needle.name} on ${name}`).toEqual(found);
        results.push(...scanned[0]!);
      }
    }
    // passes, failures, and areas found away from their recorded position all occurred
    expect(results.some((r) => r.similarity === 1)).toBe(true);
    expect(results.some((r) => r.similarity < 0.9)).toBe(true);
    const moved = engine.match(
      bandFor(frames.get('di-location-moved')!, [needles.find((n) => n.name === 'di-location')!], false),
      [spec(needles.find((n) => n.name === 'di-location')!)],
      ordinary,
    )[0]!;
    expect(moved[0]).toEqual({ area: 0, x: 407, y: 135, similarity: 1 });
  });

  it('take, among equally good positions, the one nearest the recorded position', () => {
    // The console needle's (600, 340) 40×20 is black with a black ring, and so is the screen but
    // for one bright pixel at the recorded corner: the positions covering it (after the blur, its
    // 3×3 neighbourhood) are worse, every other one has error 0 (exactly, also in OpenCV's float
    // result). Of those, the nearest are 2 px away, right (602, 340) and below (600, 342); the
    // first in scan order is taken.
    const needle = needles.find((n) => n.name === 'busybox-shell')!;
    const area = { ...needle.areas[0]!, xpos: 600, ypos: 340, width: 40, height: 20 };
    const flat = { ...needle, areas: [area] };
    const frame: Frame = { width: 720, height: 400, channels: 3, data: new Uint8Array(720 * 400 * 3) };
    frame.data.fill(200, (340 * 720 + 600) * 3, (340 * 720 + 601) * 3);
    for (const band of [bandFor(frame, [flat], false), wholeScreen(frame)]) {
      for (const margins of [ordinary, () => 30]) {
        const scanned = engine.match(band, [spec(flat)], margins);
        // OpenCV's way runs its many-near-positions branch here (all but a few are near)
        expect(scanned).toEqual(plain.match(band, [spec(flat)], margins));
        expect(scanned[0]![0]).toEqual({ area: 0, x: 602, y: 340, similarity: 1 });
      }
    }
  });
});

describe('verdict-only checks without the addon (the bounds’ prefilter)', () => {
  it('give every ordinary check the exact search’s verdict; passes are identical', () => {
    let bounded = 0;
    for (const [name, frame] of frames) {
      for (const needle of needles) {
        const band = bandFor(frame, [needle], false);
        const quick = engine.match(band, [spec(needle)], ordinary, { verdictOnly: true })[0]!;
        const exact = plain.match(band, [spec(needle)], ordinary)[0]!;
        quick.forEach((q, k) => {
          const e = exact[k]!;
          const area = needle.areas[q.area]!;
          const where = `${needle.name} on ${name}, area ${q.area}`;
          if (q.bounded) {
            bounded++;
            // an upper bound, below the level, of an area that fails
            expect(q.similarity, where).toBeGreaterThanOrEqual(e.similarity);
            expect(q.similarity, where).toBeLessThan(area.match / 100);
            expect(e.similarity, where).toBeLessThan(area.match / 100);
          } else {
            expect(q, where).toEqual(e);
          }
        });
      }
    }
    // the prefilter really decided (most failing checks end there)
    expect(bounded).toBeGreaterThan(10);
  });
});
