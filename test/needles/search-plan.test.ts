// How an exact search is made, from the window's and the template's sizes (pure: no OpenCV, no addon).
import { describe, expect, it } from 'vitest';
import {
  ADDON_MIN_POSITIONS,
  FFT_NS_PER_POINT_LOG,
  SPARSE_FALLBACK_SHARE,
  SPARSE_MACS_PER_NS,
  searchPlan,
} from '../../worker-image/needles/search-plan.js';

const title = { width: 184, height: 18 };

describe('searchPlan', () => {
  it('leaves windows with few positions to matchTemplate', () => {
    // 40 × 50 positions
    expect(searchPlan({ width: 223, height: 67 }, title, { width: 224, height: 72 })).toEqual({
      sparseFirst: 0,
      fft: false,
      sparseAfterFft: 0,
    });
    expect(ADDON_MIN_POSITIONS).toBe(2_048);
  });

  it('lets the sparse search go first only while it costs less than the FFT', () => {
    // the installer title with margin 50 at the top of the screen: 284 × 84, FFT 288 × 90
    const plan = searchPlan({ width: 284, height: 84 }, title, { width: 288, height: 90 });
    const points = 288 * 90;
    expect(plan.fft).toBe(true);
    expect(plan.sparseFirst).toBeCloseTo(
      FFT_NS_PER_POINT_LOG * points * Math.log2(points) * SPARSE_MACS_PER_NS,
    );
    // once the FFT gave up: up to an eighth of the dense multiply-adds
    expect(plan.sparseAfterFft).toBe(101 * 67 * 184 * 18 * SPARSE_FALLBACK_SHARE);
    // the whole screen: a larger FFT allows more, but far less than a share of the dense count
    const whole = searchPlan({ width: 1024, height: 768 }, title, { width: 1024, height: 768 });
    expect(whole.sparseFirst).toBeGreaterThan(plan.sparseFirst);
    expect(whole.sparseFirst).toBeLessThan(whole.sparseAfterFft / 10);
  });

  it('never searches sparsely a template whose sums would overflow int32', () => {
    const big = searchPlan(
      { width: 400, height: 400 },
      { width: 200, height: 166 },
      { width: 400, height: 400 },
    );
    expect(big).toEqual({ sparseFirst: 0, fft: true, sparseAfterFft: 0 });
    const fits = searchPlan(
      { width: 400, height: 400 },
      { width: 200, height: 165 },
      { width: 400, height: 400 },
    );
    expect(fits.sparseFirst).toBeGreaterThan(0);
  });
});
