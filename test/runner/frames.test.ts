// Screen comparison (wait_still_screen / wait_screen_change) and fitting frames into the video.
import { describe, expect, it } from 'vitest';
import type { Frame } from '../../domain/needles/types.js';
import { psnr } from '../../worker-image/runner/screen-diff.js';
import { fitFrame } from '../../worker-image/runner/video.js';

function frame(width: number, height: number, value: number, channels: 3 | 4 = 4): Frame {
  return { width, height, channels, data: new Uint8Array(width * height * channels).fill(value) };
}

describe('psnr', () => {
  it('is infinite for identical screens and 0 for different sizes', () => {
    expect(psnr(frame(8, 8, 10), frame(8, 8, 10))).toBe(Number.POSITIVE_INFINITY);
    expect(psnr(frame(8, 8, 10), frame(8, 4, 10))).toBe(0);
  });

  it('drops with the size of the change, comparing RGB and RGBX alike', () => {
    const a = frame(100, 100, 0);
    const small = frame(100, 100, 0);
    small.data.fill(255, 0, 4 * 4); // 4 white pixels
    const large = frame(100, 100, 0);
    large.data.fill(255, 0, 4 * 2000);
    expect(psnr(a, small)).toBeGreaterThan(psnr(a, large));
    expect(psnr(a, small)).toBeCloseTo(10 * Math.log10((255 * 255) / ((4 * 255 * 255) / 10000)), 1);
    expect(psnr(frame(10, 10, 7, 3), frame(10, 10, 7, 4))).toBe(Number.POSITIVE_INFINITY);
  });
});

describe('fitFrame', () => {
  it('places a smaller frame at the top left on black, opaque, and crops a larger one', () => {
    const small = frame(2, 1, 200, 3);
    const canvas = fitFrame(small, 3, 2);
    expect([...canvas.subarray(0, 12)]).toEqual([200, 200, 200, 255, 200, 200, 200, 255, 0, 0, 0, 0]);
    const big = frame(5, 5, 9);
    expect(fitFrame(big, 2, 2).every((v, i) => (i % 4 === 3 ? v === 255 : v === 9))).toBe(true);
  });
});
