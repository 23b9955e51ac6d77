// The exact whole-screen search by FFT correlation (worker-image/needles/fftcorr.ts and
// native/fftcorr.cc) against OpenCV's matchTemplate, on the real fixture screens and needles: the
// same position and similarity for every needle on every screen (areas present, moved and absent);
// the addon's candidates checked by brute force on real pixels; and a missing or broken addon
// failing with the install hint. OpenCV runs in this test's own process (vitest's forks pool).
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
import { createMatcher, decodePng, loadNeedleDir } from '../../worker-image/needles/index.js';
import { bandFor } from '../../worker-image/needles/matcher.js';
import { loadOpenCV, withMats } from '../../worker-image/needles/opencv.js';
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
/** Exact large searches by FFT (the default). */
let byFft: MatchEngine;
/** Every exact search by OpenCV's matchTemplate. */
let byMatchTemplate: MatchEngine;
const frames = new Map<string, Frame>();
const everywhere = () => Number.POSITIVE_INFINITY;
const spec = (n: Needle) => ({ pngPath: n.pngPath, areas: n.areas });
const byName = (name: string) => needles.find((n) => n.name === name)!;

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

describe('the exact whole-screen search by FFT', () => {
  it('finds the position and similarity matchTemplate finds, for every needle on every screen', () => {
    const results: AreaResult[] = [];
    let ties = 0;
    for (const [name, frame] of frames) {
      for (const needle of needles) {
        const band = bandFor(frame, [needle], true);
        const fft = byFft.match(band, [spec(needle)], everywhere)[0]!;
        const theirs = byMatchTemplate.match(band, [spec(needle)], everywhere)[0]!;
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
    expect(ties).toBeLessThanOrEqual(2);
    // the FFT decided (no fallback), within its rounding bound, on present and absent areas
    expect(byFft.fftStats.searches).toBeGreaterThanOrEqual(40);
    expect(byFft.fftStats.tooManyCandidates).toBe(0);
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

  it('hands many equally good positions to matchTemplate, with the same answer', () => {
    // A black screen but for one bright pixel at the recorded corner of a black 40×20 area: every
    // position not covering it has error 0, so far too many are near the minimum for the exact
    // comparison; matchTemplate's way decides (the nearest, first in scan order: 2 px right).
    const needle = byName('busybox-shell');
    const area = { ...needle.areas[0]!, xpos: 600, ypos: 340, width: 40, height: 20 };
    const flat = { ...needle, areas: [area] };
    const frame: Frame = { width: 720, height: 400, channels: 3, data: new Uint8Array(720 * 400 * 3) };
    frame.data.fill(200, (340 * 720 + 600) * 3, (340 * 720 + 601) * 3);
    const before = byFft.fftStats.tooManyCandidates;
    const band = bandFor(frame, [flat], true);
    const found = byFft.match(band, [spec(flat)], everywhere);
    expect(byFft.fftStats.tooManyCandidates).toBe(before + 1);
    expect(found).toEqual(byMatchTemplate.match(band, [spec(flat)], everywhere));
    expect(found[0]![0]).toEqual({ area: 0, x: 602, y: 340, similarity: 1 });
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
