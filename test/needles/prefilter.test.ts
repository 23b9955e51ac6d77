// The lower bound behind verdict-only whole-screen checks (worker-image/needles/prefilter.ts),
// checked by brute force on a real screenshot: it never exceeds the true squared error, and the
// positions it keeps include every position whose error is within the limit.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { decodePng } from '../../worker-image/needles/index.js';
import { type GrayImage, survivingPositions } from '../../worker-image/needles/prefilter.js';
import { SCREEN_DIR } from './fixture-needles.js';

function gray(name: string): GrayImage {
  const frame = decodePng(readFileSync(join(SCREEN_DIR, `${name}.png`)));
  const data = new Uint8Array(frame.width * frame.height);
  for (let i = 0; i < data.length; i++) {
    const p = i * frame.channels;
    data[i] = Math.round(0.299 * frame.data[p]! + 0.587 * frame.data[p + 1]! + 0.114 * frame.data[p + 2]!);
  }
  return { width: frame.width, height: frame.height, data };
}

function crop(image: GrayImage, x: number, y: number, width: number, height: number, noise = 0): GrayImage {
  const data = new Uint8Array(width * height);
  for (let r = 0; r < height; r++) {
    for (let c = 0; c < width; c++) {
      const v = image.data[(y + r) * image.width + x + c]! + (((r * 31 + c * 17) % 7) - 3) * noise;
      data[r * width + c] = Math.max(0, Math.min(255, v));
    }
  }
  return { width, height, data };
}

function sse(image: GrayImage, t: GrayImage, x: number, y: number): number {
  let sum = 0;
  for (let r = 0; r < t.height; r++) {
    for (let c = 0; c < t.width; c++) {
      const d = image.data[(y + r) * image.width + x + c]! - t.data[r * t.width + c]!;
      sum += d * d;
    }
  }
  return sum;
}

describe('lower bounds of the template error', () => {
  const image = gray('di-location');
  // the dialog title with a little noise, searched in a window around it
  const template = crop(image, 404, 128, 60, 18, 2);
  const window = { x: 360, y: 100, width: 180, height: 80 };
  const cols = window.width - template.width + 1;
  const rows = window.height - template.height + 1;
  const errors: number[] = [];
  for (let y = 0; y < rows; y++) {
    for (let x = 0; x < cols; x++) errors.push(sse(image, template, window.x + x, window.y + y));
  }
  const minError = Math.min(...errors);

  it('never exceeds the true minimum, and keeps every position within the limit', () => {
    const limit = minError + 5000;
    const { minBound, positions } = survivingPositions(image, window, template, limit);
    expect(minBound).toBeLessThanOrEqual(minError);
    const within = errors.flatMap((e, i) => (e <= limit ? [i] : []));
    expect(within.length).toBeGreaterThan(0);
    expect(positions).not.toBeNull();
    expect([...positions!].filter((p) => within.includes(p))).toEqual(within);
    // and it excludes most positions: that is what makes it worth computing
    expect(positions!.length).toBeLessThan(errors.length / 10);
    expect(minError).toBe(errors[(128 - window.y) * cols + (404 - window.x)]);
  });

  it('keeps nothing when no position can be within the limit, with a bound above it', () => {
    const other = crop(gray('busybox-shell'), 0, 0, 60, 18);
    const { minBound, positions } = survivingPositions(image, window, other, 1000);
    expect(positions).toEqual(new Int32Array(0));
    expect(minBound).toBeGreaterThan(1000);
    let trueMin = Number.POSITIVE_INFINITY;
    for (let y = 0; y < rows; y++) {
      for (let x = 0; x < cols; x++)
        trueMin = Math.min(trueMin, sse(image, other, window.x + x, window.y + y));
    }
    expect(minBound).toBeLessThanOrEqual(trueMin);
  });

  it('gives up listing (null) when too many positions survive', () => {
    const flat: GrayImage = { width: 20, height: 10, data: new Uint8Array(200).fill(image.data[0]!) };
    const { positions } = survivingPositions(image, { x: 0, y: 0, width: 1024, height: 768 }, flat, 1e12);
    expect(positions).toBeNull();
  });
});
