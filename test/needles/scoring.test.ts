// The pure decisions of matching: openQA's similarity formula, margins, search windows, the
// choice among good positions, and the ranking of candidates.
import { describe, expect, it } from 'vitest';
import type { AreaMatch, Needle } from '../../domain/needles/types.js';
import {
  candidateFrom,
  compareCandidates,
  effectiveMargin,
  pickNearestGood,
  searchWindow,
  similarityFromMse,
} from '../../worker-image/needles/scoring.js';

describe('similarityFromMse', () => {
  it("maps MSE with os-autoinst's 0.9 + (40 − MSE)/380, clamped to 0..1", () => {
    expect(similarityFromMse(40)).toBeCloseTo(0.9, 12);
    expect(similarityFromMse(2)).toBeCloseTo(1, 12);
    expect(similarityFromMse(0)).toBe(1);
    expect(similarityFromMse(24.8)).toBeCloseTo(0.94, 12);
    expect(similarityFromMse(1000)).toBe(0);
  });
});

describe('effectiveMargin', () => {
  it("widens the margin by 2 % of (1024 − margin) on ordinary checks, as os-autoinst's search_ratio 0.02", () => {
    expect(effectiveMargin(50, false)).toBe(69);
    expect(effectiveMargin(10, false)).toBe(30);
    expect(effectiveMargin(50, true)).toBe(Number.POSITIVE_INFINITY);
  });
});

describe('searchWindow', () => {
  const size = { width: 1024, height: 768 };
  it('is the area ± margin clipped to the screen', () => {
    const area = { xpos: 10, ypos: 700, width: 100, height: 50 };
    expect(searchWindow(area, 50, size, size)).toEqual({
      x: 10,
      y: 700,
      left: 0,
      top: 650,
      right: 160,
      bottom: 768,
    });
  });
  it('scales the position (not the template) to a screen of another size', () => {
    const area = { xpos: 512, ypos: 384, width: 40, height: 20 };
    const w = searchWindow(area, 0, size, { width: 800, height: 600 });
    expect(w).toMatchObject({ x: 400, y: 300, left: 400, right: 440, top: 300, bottom: 320 });
  });
  it('is null when the area does not fit the screen (os-autoinst: similarity 0)', () => {
    expect(
      searchWindow({ xpos: 900, ypos: 0, width: 100, height: 10 }, 50, size, { width: 800, height: 600 }),
    ).toBeNull();
  });
});

describe('pickNearestGood', () => {
  it('takes, among positions within 10 of the best, the one nearest the recorded position', () => {
    // 5 columns × 2 rows; best values at columns 0 and 4 of row 0, recorded at column 3.
    const result = new Float32Array([100, 500, 500, 500, 105, 900, 900, 900, 900, 900]);
    expect(pickNearestGood(result, 5, 500, 3, 0)).toBe(4);
    expect(pickNearestGood(result, 5, 500, 1, 0)).toBe(0);
  });
  it('forgets good positions seen before a strictly better one (tinycv scans that way)', () => {
    const result = new Float32Array([108, 200, 100, 300]);
    // 108 is within 10 of 100 but was collected before 100 appeared: only index 2 remains.
    expect(pickNearestGood(result, 4, 1000, 0, 0)).toBe(2);
  });
  it('keeps the recorded position when it is the best', () => {
    const result = new Float32Array([50, 50, 50, 40, 50]);
    expect(pickNearestGood(result, 5, 40, 3, 0)).toBe(3);
  });
  it('takes exact errors above float32’s exact integers (they compare as float32)', () => {
    // 1e9 + 3 rounds to 1e9 in float32; the threshold (1e9 + 10 → 1e9) must still admit it
    expect(
      pickNearestGood(Float64Array.of(1e9 + 3, 1e9 + 40), 10, Number.POSITIVE_INFINITY, 0, 0, [5, 7]),
    ).toBe(5);
  });

  /** tinycv's scan, written the plain way: collect, restart on a strictly better value. */
  function listed(result: Float32Array, cols: number, atRecorded: number, col: number, row: number) {
    const f32 = Math.fround;
    let threshold = f32(f32(atRecorded) + 10);
    let good: number[] = [];
    result.forEach((v, i) => {
      if (v > threshold) return;
      if (f32(v + 10) < threshold) {
        threshold = f32(v + 10);
        good = [i];
      } else good.push(i);
    });
    let best = -1;
    let bestDistance = Number.POSITIVE_INFINITY;
    for (const i of good) {
      const d = ((i % cols) - col) ** 2 + (Math.trunc(i / cols) - row) ** 2;
      if (d < bestDistance) {
        bestDistance = d;
        best = i;
      }
    }
    return best;
  }

  it('gives, on random results with many ties, the choice of tinycv’s scan; so does any subset holding the near positions', () => {
    let seed = 7;
    const random = () => {
      seed = (seed * 1103515245 + 12345) % 2 ** 31;
      return seed / 2 ** 31;
    };
    for (let round = 0; round < 500; round++) {
      const cols = 1 + Math.floor(random() * 12);
      const rows = 1 + Math.floor(random() * 8);
      // few distinct values, some within 10 of each other, some large (float32 rounding)
      const levels = [0, 3, 9, 10, 11, 25, 1e8, 1e8 + 8, 1e8 + 16];
      const result = Float32Array.from(
        { length: cols * rows },
        () => levels[Math.floor(random() * levels.length)]!,
      );
      const col = Math.floor(random() * cols);
      const row = Math.floor(random() * rows);
      const atRecorded = random() < 0.3 ? Number.POSITIVE_INFINITY : result[row * cols + col]!;
      const expected = listed(result, cols, atRecorded, col, row);
      expect(pickNearestGood(result, cols, atRecorded, col, row)).toBe(expected);
      // a subset: every position within 10 of the minimum, and some others
      const min = Math.min(...result);
      const subset = [...result.keys()].filter((i) => result[i]! <= min + 10 || random() < 0.5);
      // as doubles, as exact errors come (compared as float32, as tinycv's)
      const values = Float64Array.from(
        subset,
        (i) => result[i]! + (random() < 0.5 ? 0 : 1e-3 * result[i]! * 2 ** -24),
      );
      expect(pickNearestGood(values, cols, atRecorded, col, row, subset)).toBe(expected);
    }
  });
});

describe('candidates', () => {
  const needle = (name: string, workaround = false): Needle => ({
    name,
    tags: ['t'],
    areas: [],
    properties: workaround ? [{ name: 'workaround' }] : [],
    jsonPath: '',
    pngPath: '',
  });
  const area = (similarity: number, required = 0.96): AreaMatch => ({
    x: 0,
    y: 0,
    width: 1,
    height: 1,
    similarity,
    required,
    area: 0,
  });

  it('every match area must pass its own level', () => {
    expect(candidateFrom(needle('a'), [area(0.99), area(0.97)]).ok).toBe(true);
    const one = candidateFrom(needle('a'), [area(0.99), area(0.95)]);
    expect(one.ok).toBe(false);
    expect(one.similarity).toBe(0.95);
    expect(candidateFrom(needle('a'), [area(0.91, 0.9)]).ok).toBe(true);
  });

  it('error is the mean of (1 − similarity)² as in os-autoinst', () => {
    expect(candidateFrom(needle('a'), [area(0.9), area(0.8)]).error).toBeCloseTo((0.01 + 0.04) / 2, 12);
  });

  it('ranks matches first, then by error, then workaround needles, then by name', () => {
    const list = [
      candidateFrom(needle('z'), [area(0.5)]),
      candidateFrom(needle('y'), [area(0.97)]),
      candidateFrom(needle('x'), [area(0.99)]),
      candidateFrom(needle('w', true), [area(0.99)]),
      candidateFrom(needle('b'), [area(0.6)]),
      candidateFrom(needle('a'), [area(0.6)]),
    ];
    expect(list.sort(compareCandidates).map((c) => c.needle.name)).toEqual(['w', 'x', 'y', 'a', 'b', 'z']);
  });
});
