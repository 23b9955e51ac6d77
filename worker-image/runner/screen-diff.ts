// How alike two screens are, as openQA's wait_still_screen / wait_screen_change judge it: the
// PSNR (dB) of the two images' luminance. Identical screens are Infinity; different sizes are 0.
import type { Frame } from '../../domain/needles/types.js';

export function psnr(a: Frame, b: Frame): number {
  if (a.width !== b.width || a.height !== b.height) return 0;
  const pixels = a.width * a.height;
  if (pixels === 0) return Number.POSITIVE_INFINITY;
  let sum = 0;
  const ca = a.channels;
  const cb = b.channels;
  for (let p = 0; p < pixels; p++) {
    const ia = p * ca;
    const ib = p * cb;
    const la =
      0.299 * (a.data[ia] as number) +
      0.587 * (a.data[ia + 1] as number) +
      0.114 * (a.data[ia + 2] as number);
    const lb =
      0.299 * (b.data[ib] as number) +
      0.587 * (b.data[ib + 1] as number) +
      0.114 * (b.data[ib + 2] as number);
    const d = la - lb;
    sum += d * d;
  }
  if (sum === 0) return Number.POSITIVE_INFINITY;
  const mse = sum / pixels;
  return 10 * Math.log10((255 * 255) / mse);
}
