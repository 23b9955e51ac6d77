// The addon's exact searches (worker-image/needles/fftcorr.ts; native/fftcorr.cc by FFT and
// native/sparsecorr.cc by sparse correlation) against OpenCV's matchTemplate, on the real fixture
// screens and needles: the same position and similarity for every needle on every screen (areas
// present, moved and absent), whole-screen and ordinary windows; the addon's candidates and errors
// checked by brute force; and a missing or broken addon failing with the install hint. OpenCV
// runs in this test's own process (vitest's forks pool).
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isKubeqaError } from '../../domain/errors.js';
import type { Frame, Needle, NeedleArea } from '../../domain/needles/types.js';
import { type AreaResult, MatchEngine } from '../../worker-image/needles/engine.js';
import {
  cpuHasAvx2,
  fftcorrAddonPath,
  loadFftCorr,
  roundingBound,
} from '../../worker-image/needles/fftcorr.js';
import { createMatcher, decodePng, encodePng, loadNeedleDir } from '../../worker-image/needles/index.js';
import { bandFor } from '../../worker-image/needles/matcher.js';
import { loadOpenCV, withMats } from '../../worker-image/needles/opencv.js';
import { effectiveMargin, similarityFromMse } from '../../worker-image/needles/scoring.js';
import { movedScreen, NEEDLE_DIR, SCREEN_DIR } from './fixture-needles.js';

const SCREENS = [
  'di-language',
  'di-language-down',
  'di-location',
  'di-keyboard',
  'busybox-shell',
  'di-language-800x600',
];

let needles: Needle[];
/** Exact searches by the addon, sparse or FFT (the default). */
let byFft: MatchEngine;
/** Every exact search by OpenCV's matchTemplate. */
let byMatchTemplate: MatchEngine;
const frames = new Map<string, Frame>();
const everywhere = () => Number.POSITIVE_INFINITY;
const spec = (n: Needle) => ({ pngPath: n.pngPath, areas: n.areas });
const byName = (name: string) => needles.find((n) => n.name === name)!;
/** Needle images made by the tests. */
const scratch = mkdtempSync(join(tmpdir(), 'kubeqa-fft-test-'));

beforeAll(async () => {
  needles = await loadNeedleDir(NEEDLE_DIR);
  byFft = new MatchEngine(300, false);
  byMatchTemplate = new MatchEngine(300, false, undefined, false);
  for (const name of SCREENS) frames.set(name, decodePng(readFileSync(join(SCREEN_DIR, `${name}.png`))));
  // the location screen moved 3 px right and 7 px down: its areas are found off their recorded
  // position by the whole-screen search
  frames.set('di-location-moved', movedScreen(frames.get('di-location')!, 3, 7));
});
afterAll(() => {
  byFft?.close();
  byMatchTemplate?.close();
  rmSync(scratch, { recursive: true, force: true });
});

/** The squared error of a needle's area at a screen position, by OpenCV (gray, blurred, whole images). */
function exactError(frame: Frame, needle: Needle, area: NeedleArea, x: number, y: number): number {
  const cv = loadOpenCV();
  return withMats((keep) => {
    const rgb = keep(new cv.Mat(Buffer.from(frame.data), frame.height, frame.width, cv.CV_8UC3));
    const screen = keep(keep(rgb.cvtColor(cv.COLOR_RGB2GRAY)).gaussianBlur(new cv.Size(3, 3), 0));
    const image = keep(
      keep(cv.imread(needle.pngPath).cvtColor(cv.COLOR_BGR2GRAY)).gaussianBlur(new cv.Size(3, 3), 0),
    );
    const template = keep(image.getRegion(new cv.Rect(area.xpos, area.ypos, area.width, area.height)));
    return keep(screen.getRegion(new cv.Rect(x, y, area.width, area.height))).norm(template, cv.NORM_L2SQR);
  });
}

/**
 * Every needle on every screen by the addon and by matchTemplate: the same similarities, and the
 * same positions but among exactly equal errors. Returns the addon's results and those ties.
 */
function compareWithMatchTemplate(wholeBand: boolean, margins: (area: NeedleArea) => number) {
  const results: AreaResult[] = [];
  let ties = 0;
  for (const [name, frame] of frames) {
    for (const needle of needles) {
      const band = bandFor(frame, [needle], wholeBand);
      const fft = byFft.match(band, [spec(needle)], margins)[0]!;
      const theirs = byMatchTemplate.match(band, [spec(needle)], margins)[0]!;
      const where = `${needle.name} on ${name}`;
      expect(
        fft.map((r) => r.similarity),
        where,
      ).toEqual(theirs.map((r) => r.similarity));
      fft.forEach((ours, k) => {
        const other = theirs[k]!;
        if (ours.x === other.x && ours.y === other.y) return;
        // Another position only where the errors are exactly equal: matchTemplate's float
        // rounding then decides which of the equal positions it restarts its collection from
        // (tinycv restarts on any strictly smaller value); the exact errors keep the nearest.
        const area = needle.areas[ours.area]!;
        expect(
          needle.areas.some((a) => a.type === 'exclude'),
          where,
        ).toBe(false);
        expect(exactError(frame, needle, area, ours.x, ours.y), where).toBe(
          exactError(frame, needle, area, other.x, other.y),
        );
        ties++;
      });
      results.push(...fft);
    }
  }
  return { results, ties };
}

describe('the exact searches by the addon', () => {
  it('find on ordinary windows the position and similarity matchTemplate finds, for every needle on every screen', () => {
    const sparse = byFft.sparseStats.searches;
    const fft = byFft.fftStats.searches;
    // the runner's ordinary check (the needle's margin, widened as openQA does), and margin 50
    for (const [wholeBand, margins] of [
      [false, (area: NeedleArea) => effectiveMargin(area.margin, false)],
      [true, () => 50],
    ] as const) {
      const { results, ties } = compareWithMatchTemplate(wholeBand, margins);
      // ties (another of exactly equal positions) come from flat windows, where every position
      // is equal and matchTemplate's float rounding decides; most positions are the same
      expect(ties).toBeLessThan(results.length / 4);
      expect(results.some((r) => r.similarity < 0.5)).toBe(true);
      expect(results.some((r) => r.similarity === 1)).toBe(true);
    }
    // both searches decided some of them (flat windows sparsely, the others by FFT)
    expect(byFft.sparseStats.searches).toBeGreaterThan(sparse);
    expect(byFft.fftStats.searches).toBeGreaterThan(fft);
    expect(byFft.fftStats.roundingExceeded).toBe(0);
  });

  it('find on the whole screen the position and similarity matchTemplate finds, for every needle on every screen', () => {
    const before = { ...byFft.fftStats };
    const { results, ties } = compareWithMatchTemplate(true, everywhere);
    expect(ties).toBeLessThanOrEqual(2);
    // the FFT decided (no fallback), within its rounding bound, on present and absent areas
    expect(byFft.fftStats.searches - before.searches).toBeGreaterThanOrEqual(40);
    expect(byFft.fftStats.tooManyCandidates).toBe(before.tooManyCandidates);
    expect(byFft.fftStats.roundingExceeded).toBe(0);
    expect(byFft.fftStats.worstRounding).toBeLessThan(0.5);
    expect(results.some((r) => r.similarity < 0.5)).toBe(true);
    expect(results.some((r) => r.similarity === 1)).toBe(true);
    // found off its recorded position (407 − 3, 128 − 7 is where the needle recorded it)
    const location = byName('di-location');
    const moved = byFft.match(
      bandFor(frames.get('di-location-moved')!, [location], true),
      [spec(location)],
      everywhere,
    );
    expect(moved[0]![0]).toEqual({ area: 0, x: 407, y: 135, similarity: 1 });
  });

  it('shares one screen spectrum among the needles of a check', () => {
    const frame = frames.get('di-keyboard')!;
    const family = needles.filter(
      (n) => n.name.startsWith('di-language') && n.name !== 'di-language-800x600',
    );
    const together = byFft.match(bandFor(frame, family, true), family.map(spec), everywhere);
    const alone = family.map(
      (n) => byMatchTemplate.match(bandFor(frame, family, true), [spec(n)], everywhere)[0],
    );
    expect(together).toEqual(alone);
  });

  /** A black screen but for one bright pixel at the recorded corner of a black 40×20 area. */
  function flatScreen() {
    const needle = byName('busybox-shell');
    const area = { ...needle.areas[0]!, xpos: 600, ypos: 340, width: 40, height: 20 };
    const flat = { ...needle, areas: [area] };
    const frame: Frame = { width: 720, height: 400, channels: 3, data: new Uint8Array(720 * 400 * 3) };
    frame.data.fill(200, (340 * 720 + 600) * 3, (340 * 720 + 601) * 3);
    return { flat, frame };
  }

  it('search a flat window sparsely, with matchTemplate’s answer', () => {
    // Every position not covering the bright pixel has error 0: far too many near the minimum for
    // the FFT's candidates, few non-zero pixels for the sparse search, which goes first. The
    // nearest good position: 2 px right, the first in scan order of the two 2 px away.
    const { flat, frame } = flatScreen();
    const sparse = byFft.sparseStats.searches;
    const fft = byFft.fftStats.searches;
    const band = bandFor(frame, [flat], true);
    const found = byFft.match(band, [spec(flat)], everywhere);
    expect(byFft.sparseStats.searches).toBe(sparse + 1);
    expect(byFft.fftStats.searches).toBe(fft);
    expect(found).toEqual(byMatchTemplate.match(band, [spec(flat)], everywhere));
    expect(found[0]![0]).toEqual({ area: 0, x: 602, y: 340, similarity: 1 });
  });

  it('hand a window the FFT gives up on (near-equal positions) to the sparse search', () => {
    // The needle: black, but for a white 5×8 block in its 40×20 area; the screen: black, but for a
    // grey 200×100 block far away. Every position off the grey block has the same error (the white
    // block's), so the FFT gives up; both the template's and the screen's non-zero pixels are too
    // many for the sparse search to go first (its cost above the FFT's), few enough once the FFT
    // gave up. The recorded position is among the best: taken.
    const image: Frame = { width: 720, height: 400, channels: 3, data: new Uint8Array(720 * 400 * 3) };
    for (let y = 345; y < 353; y++) image.data.fill(255, (y * 720 + 615) * 3, (y * 720 + 620) * 3);
    const pngPath = join(scratch, 'white-block.png');
    writeFileSync(pngPath, encodePng(image));
    const area: NeedleArea = {
      xpos: 600,
      ypos: 340,
      width: 40,
      height: 20,
      type: 'match',
      match: 96,
      margin: 50,
    };
    const needle = { ...byName('busybox-shell'), pngPath, areas: [area] };
    const frame: Frame = { width: 720, height: 400, channels: 3, data: new Uint8Array(720 * 400 * 3) };
    for (let y = 20; y < 120; y++) frame.data.fill(100, (y * 720 + 20) * 3, (y * 720 + 220) * 3);
    const sparse = byFft.sparseStats.searches;
    const declined = byFft.sparseStats.declined;
    const gaveUp = byFft.fftStats.tooManyCandidates;
    const band = bandFor(frame, [needle], true);
    const found = byFft.match(band, [spec(needle)], everywhere)[0]![0]!;
    expect(byFft.sparseStats.declined).toBe(declined + 1);
    expect(byFft.fftStats.tooManyCandidates).toBe(gaveUp + 1);
    expect(byFft.sparseStats.searches).toBe(sparse + 1);
    const error = exactError(frame, needle, area, 600, 340);
    expect(error).toBeGreaterThan(0);
    expect(found).toEqual({ area: 0, x: 600, y: 340, similarity: similarityFromMse(error / 800) });
    // matchTemplate: the same similarity (its float rounding may pick another of the equal positions)
    const theirs = byMatchTemplate.match(band, [spec(needle)], everywhere)[0]![0]!;
    expect(theirs.similarity).toBe(found.similarity);
    expect(exactError(frame, needle, area, theirs.x, theirs.y)).toBe(error);
  });
});

describe('the FFT addon’s candidates', () => {
  /** Gray values of a real screen (no blur: any pixels do). */
  function gray(name: string) {
    const frame = frames.get(name)!;
    const data = new Uint8Array(frame.width * frame.height);
    for (let i = 0; i < data.length; i++) {
      const p = i * 3;
      data[i] = Math.round(0.299 * frame.data[p]! + 0.587 * frame.data[p + 1]! + 0.114 * frame.data[p + 2]!);
    }
    return { width: frame.width, data };
  }

  // both builds: any x86-64, and AVX2 + FMA (loaded by default where the CPU has them)
  const variants = cpuHasAvx2() ? (['baseline', 'avx2'] as const) : (['baseline'] as const);
  it.each(variants)(
    'hold every position within 10 of the minimum, with its exact error (brute force, %s build)',
    (variant) => {
      const fft = loadFftCorr(fftcorrAddonPath(variant));
      const screen = gray('di-language');
      const stride = screen.width;
      // windows of odd and smooth sizes (FFT sizes with factors 2, 3, 5), templates cut from the
      // screen (exact match present) and altered (no exact match)
      const cases = [
        { x0: 380, y0: 0, w: 301, h: 77, tx: 412, ty: 16, tw: 184, th: 18, noise: 0 },
        { x0: 380, y0: 0, w: 301, h: 77, tx: 412, ty: 16, tw: 184, th: 18, noise: 9 },
        { x0: 100, y0: 100, w: 250, h: 243, tx: 180, ty: 150, tw: 33, th: 21, noise: 3 },
        { x0: 0, y0: 400, w: 127, h: 129, tx: 0, ty: 420, tw: 127, th: 1, noise: 0 },
      ];
      for (const c of cases) {
        const template = new Uint8Array(c.tw * c.th);
        for (let r = 0; r < c.th; r++) {
          for (let k = 0; k < c.tw; k++) {
            const v = screen.data[(c.ty + r) * stride + c.tx + k]! + (((r * 31 + k * 17) % 7) - 3) * c.noise;
            template[r * c.tw + k] = Math.max(0, Math.min(255, v));
          }
        }
        const cols = c.w - c.tw + 1;
        const rows = c.h - c.th + 1;
        const exact = new Float64Array(cols * rows);
        for (let y = 0; y < rows; y++) {
          for (let x = 0; x < cols; x++) {
            let sum = 0;
            for (let r = 0; r < c.th; r++) {
              for (let k = 0; k < c.tw; k++) {
                const d = screen.data[(c.y0 + y + r) * stride + c.x0 + x + k]! - template[r * c.tw + k]!;
                sum += d * d;
              }
            }
            exact[y * cols + x] = sum;
          }
        }
        const min = Math.min(...exact);
        let fftW = fft.fftSize(c.w);
        while (fftW % 2) fftW = fft.fftSize(fftW + 1);
        const fftH = fft.fftSize(c.h);
        const spectrum = new Float32Array(2 * fftH * (fftW / 2 + 1));
        const scene = fft.sceneSpectrum(screen.data, stride, c.x0, c.y0, c.w, c.h, fftW, fftH, spectrum);
        const t = fft.templateSpectrum(template, c.tw, c.th, fftW, fftH);
        const bound = roundingBound(scene, t, c.tw * c.th, fftW, fftH);
        const found = fft.search(
          screen.data,
          stride,
          c.x0,
          c.y0,
          c.w,
          c.h,
          fftW,
          fftH,
          spectrum,
          scene.shift,
          template,
          c.tw,
          c.th,
          t.spectrum,
          t.shift,
          t.sumShifted,
          t.sumSqShifted,
          10 + 2 * bound,
          100_000,
        )!;
        const label = JSON.stringify(c);
        expect(found, label).not.toBeNull();
        expect(found.maxError, label).toBeLessThan(bound / 2);
        expect(Math.abs(found.roughMin - min), label).toBeLessThanOrEqual(bound);
        const listed = new Map([...found.positions].map((p, k) => [p, found.values[k]!]));
        exact.forEach((value, p) => {
          if (value <= min + 10) expect(listed.has(p), `${label} position ${p}`).toBe(true);
        });
        for (const [p, value] of listed) expect(value, `${label} position ${p}`).toBe(exact[p]);
        if (c.noise === 0) expect(min).toBe(0);
      }
    },
  );
});

describe('the sparse search (native/sparsecorr.cc)', () => {
  /** A deterministic pseudo-random sequence in [0, 1). */
  function random(seed: number) {
    let state = seed;
    return () => {
      state = (state * 1103515245 + 12345) & 0x7fffffff;
      return state / 0x80000000;
    };
  }

  const variants = cpuHasAvx2() ? (['baseline', 'avx2'] as const) : (['baseline'] as const);
  it.each(variants)(
    'gives the exact error at every position, summed from either side (brute force, %s build)',
    (variant) => {
      const fft = loadFftCorr(fftcorrAddonPath(variant));
      const from = { template: 0, window: 0 };
      for (let trial = 0; trial < 120; trial++) {
        const r = random(trial + 1);
        // a window in a wider region (stride, offsets), mostly one gray value with some noise
        const width = 20 + Math.floor(r() * 60);
        const height = 10 + Math.floor(r() * 40);
        const stride = width + Math.floor(r() * 10);
        const x0 = Math.floor(r() * (stride - width + 1));
        const y0 = Math.floor(r() * 5);
        const tw = 1 + Math.floor(r() * Math.min(width, 30));
        const th = 1 + Math.floor(r() * Math.min(height, 20));
        const background = Math.floor(r() * 256);
        const density = r();
        const pixels = new Uint8Array(stride * (y0 + height)).map(() =>
          r() < density ? Math.floor(r() * 256) : background,
        );
        const templateBackground = Math.floor(r() * 256);
        const templateDensity = r();
        const template = new Uint8Array(tw * th).map(() =>
          r() < templateDensity ? Math.floor(r() * 256) : templateBackground,
        );
        const slack = Math.floor(r() * 3) * 50_000;
        const found = fft.sparseSearch(pixels, stride, x0, y0, width, height, template, tw, th, 1e12, slack)!;
        from[found.from]++;
        const cols = width - tw + 1;
        const rows = height - th + 1;
        const exact = new Float64Array(cols * rows);
        for (let y = 0; y < rows; y++) {
          for (let x = 0; x < cols; x++) {
            let sum = 0;
            for (let j = 0; j < th; j++) {
              for (let i = 0; i < tw; i++) {
                const d = pixels[(y0 + y + j) * stride + x0 + x + i]! - template[j * tw + i]!;
                sum += d * d;
              }
            }
            exact[y * cols + x] = sum;
          }
        }
        const min = Math.min(...exact);
        const near = [...exact.keys()].filter((p) => exact[p]! <= min + slack);
        const label = `trial ${trial}`;
        expect(found.min, label).toBe(min);
        expect([...found.positions], label).toEqual(near);
        expect([...found.values], label).toEqual(near.map((p) => exact[p]));
      }
      // both ways of summing the correlation were taken
      expect(from.template).toBeGreaterThan(10);
      expect(from.window).toBeGreaterThan(10);
    },
  );

  it('declines a search that would cost more than allowed, and refuses what it cannot sum', () => {
    const fft = loadFftCorr();
    const pixels = new Uint8Array(100 * 50).map((_, i) => (i * 7919) % 251);
    const template = new Uint8Array(20 * 10).map((_, i) => (i * 31) % 256);
    // every pixel differs from the most common value on both sides: about 200 × 81 × 41 work
    expect(fft.sparseSearch(pixels, 100, 0, 0, 100, 50, template, 20, 10, 1_000, 10)).toBeNull();
    expect(fft.sparseSearch(pixels, 100, 0, 0, 100, 50, template, 20, 10, 1e9, 10)).not.toBeNull();
    // the right two corners lit on a black window: 2 × 200 multiply-adds at most (a pixel meets at
    // most 20 × 10 positions), but each corner is covered by one position only, so 2 exactly:
    // counted once the plain product is over the limit
    const corners = new Uint8Array(100 * 50);
    for (const i of [99, 49 * 100 + 99]) corners[i] = 255;
    const cornersFound = fft.sparseSearch(corners, 100, 0, 0, 100, 50, template, 20, 10, 399, 10);
    expect(cornersFound).toMatchObject({ from: 'window', work: 2 });
    const big = new Uint8Array(200 * 200);
    for (const call of [
      () => fft.sparseSearch(big, 200, 0, 0, 200, 200, big, 200, 166, 1e12, 10), // 33,200 pixels
      () => fft.sparseSearch(pixels, 100, 0, 0, 100, 50, template, 20, 60, 1e12, 10), // taller than the window
      () => fft.sparseSearch(pixels, 100, 10, 0, 100, 50, template, 20, 10, 1e12, 10), // past the row
    ]) {
      expect(call).toThrow(expect.objectContaining({ code: 'KQ_ERR_FFTCORR' }));
    }
  });
});

describe('a missing or broken FFT addon', () => {
  const tmp = mkdtempSync(join(tmpdir(), 'kubeqa-fftcorr-'));
  afterAll(() => rmSync(tmp, { recursive: true, force: true }));

  it('fails to load with the install hint', () => {
    const broken = join(tmp, 'kubeqa_fftcorr.node');
    writeFileSync(broken, 'not a shared object');
    for (const path of [join(tmp, 'missing.node'), broken]) {
      let error: unknown;
      try {
        loadFftCorr(path);
      } catch (e) {
        error = e;
      }
      expect(isKubeqaError(error) && error.code, path).toBe('KQ_ERR_MISSING_TOOL');
      expect((error as Error).message).toContain(path);
      expect((error as Error).message).toContain('./scripts/setup.sh');
    }
  });

  it('fails every check of the matcher, naming the fix (no silent fallback)', async () => {
    const saved = process.env.KUBEQA_FFTCORR_ADDON;
    process.env.KUBEQA_FFTCORR_ADDON = join(tmp, 'missing.node'); // the worker inherits it
    const matcher = createMatcher();
    try {
      const needle = byName('di-language');
      for (const fullSearch of [false, true]) {
        const error = await matcher.match(frames.get('di-location')!, [needle], { fullSearch }).then(
          () => undefined,
          (e: unknown) => e,
        );
        expect(isKubeqaError(error) && error.code).toBe('KQ_ERR_MISSING_TOOL');
        expect((error as Error).message).toMatch(/FFT addon cannot be loaded .*\.\/scripts\/setup\.sh/);
      }
    } finally {
      await matcher.close();
      if (saved === undefined) delete process.env.KUBEQA_FFTCORR_ADDON;
      else process.env.KUBEQA_FFTCORR_ADDON = saved;
    }
  });
});
