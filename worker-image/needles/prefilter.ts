// A cheap lower bound of the template error at every position of a large search window, so a
// verdict-only check can skip the full-resolution template match where it cannot change the
// verdict (see MatchEngine, MatchMode.verdictOnly).
//
// The bound (exact, not a heuristic): for pixels a_i of the screen and t_i of the template over a
// block of n pixels, with means μ and deviations from the mean of norms σ = ‖a − μ_a‖, τ = ‖t − μ_t‖,
//   Σ (a_i − t_i)² = ‖(a − μ_a) − (t − μ_t)‖² + n (μ_a − μ_t)²  ≥  (σ − τ)² + n (μ_a − μ_t)²
// (the cross term vanishes; the triangle inequality bounds the first norm). Summed over disjoint
// blocks of the template it bounds the whole error; pixels left out only add. Positions are
// tested with the whole template first (its sums slide along a row in a few operations per
// position instead of a template's worth of products), then block by block, stopping as soon as
// the bound exceeds the limit; most positions stop after the first test.
/** 8-bit gray pixels, row-major, `width` per row. */
export interface GrayImage {
  width: number;
  height: number;
  data: Uint8Array;
}

/** More surviving positions than this: the caller searches the window the ordinary way. */
export const MAX_SURVIVORS = 256;

interface Block {
  x: number;
  y: number;
  w: number;
  h: number;
  sum: number;
  /** ‖t − μ_t‖ over the block. */
  dev: number;
}

export interface Survivors {
  /** A lower bound of the error at every position of the window (the smallest bound seen). */
  minBound: number;
  /**
   * Row-major indexes (result width = window width − template width + 1) of the positions whose
   * bound is at most the limit, ascending; null when there are more than MAX_SURVIVORS.
   */
  positions: Int32Array | null;
}

function blockStats(t: Uint8Array, stride: number, x: number, y: number, w: number, h: number): Block {
  let sum = 0;
  let squares = 0;
  for (let r = y; r < y + h; r++) {
    for (let c = x; c < x + w; c++) {
      const v = t[r * stride + c] as number;
      sum += v;
      squares += v * v;
    }
  }
  const n = w * h;
  return { x, y, w, h, sum, dev: Math.sqrt(Math.max(0, squares - (sum * sum) / n)) };
}

/** The template's blocks: about 8–12 px wide and high, at most 16 × 4 of them. */
export function templateBlocks(template: Uint8Array, width: number, height: number): Block[] {
  const across = Math.max(1, Math.min(16, Math.floor(width / 8)));
  const down = Math.max(1, Math.min(4, Math.floor(height / 8)));
  const bw = Math.floor(width / across);
  const bh = Math.floor(height / down);
  const blocks: Block[] = [];
  for (let j = 0; j < down; j++) {
    for (let i = 0; i < across; i++) blocks.push(blockStats(template, width, i * bw, j * bh, bw, bh));
  }
  // the most structured blocks first: they exceed the limit soonest
  return blocks.sort((a, b) => b.dev - a.dev);
}

/** The bound summed over the template's blocks at one position, stopping once above `limit`. */
function blocksBound(
  pixels: Uint8Array,
  stride: number,
  x: number,
  y: number,
  blocks: Block[],
  limit: number,
): number {
  let bound = 0;
  for (let b = 0; b < blocks.length; b++) {
    const k = blocks[b] as Block;
    let sum = 0;
    let squares = 0;
    for (let r = 0; r < k.h; r++) {
      let i = (y + k.y + r) * stride + x + k.x;
      for (let c = 0; c < k.w; c++, i++) {
        const v = pixels[i] as number;
        sum += v;
        squares += v * v;
      }
    }
    const n = k.w * k.h;
    const dev = Math.sqrt(Math.max(0, squares - (sum * sum) / n)) - k.dev;
    const mean = sum - k.sum;
    bound += dev * dev + (mean * mean) / n;
    if (bound > limit) break;
  }
  return bound;
}

/**
 * Lower bounds of the squared error of `template` at every position of `window` inside `image`
 * (both 8-bit gray), and the positions where it is at most `limit`. The whole-template bound
 * slides along each row with running column sums (a few operations per position); the block
 * bound is summed from the pixels for the few positions the first one keeps.
 */
export function survivingPositions(
  image: GrayImage,
  window: { x: number; y: number; width: number; height: number },
  template: GrayImage,
  limit: number,
): Survivors {
  const { width, height } = template;
  const whole = blockStats(template.data, width, 0, 0, width, height);
  const blocks = templateBlocks(template.data, width, height);
  const wholeSum = whole.sum;
  const wholeDev = whole.dev;
  const inverseN = 1 / (width * height);
  const cols = window.width - width + 1;
  const rows = window.height - height + 1;
  const pixels = image.data;
  const stride = image.width;
  const left = window.x;
  const span = window.width;
  // column sums of the `height` rows under the current row of positions, window columns only
  const colSum = new Int32Array(span);
  const colSquares = new Int32Array(span);
  for (let r = 0; r < height; r++) {
    let j = (window.y + r) * stride + left;
    for (let c = 0; c < span; c++, j++) {
      const v = pixels[j] as number;
      colSum[c] = (colSum[c] as number) + v;
      colSquares[c] = (colSquares[c] as number) + v * v;
    }
  }
  let minBound = Number.POSITIVE_INFINITY;
  const found: number[] = [];
  let overflow = false;
  for (let y = 0; y < rows; y++) {
    if (y > 0) {
      let i = (window.y + y - 1) * stride + left;
      let j = (window.y + y + height - 1) * stride + left;
      for (let c = 0; c < span; c++, i++, j++) {
        const out = pixels[i] as number;
        const into = pixels[j] as number;
        colSum[c] = (colSum[c] as number) + into - out;
        colSquares[c] = (colSquares[c] as number) + into * into - out * out;
      }
    }
    let s = 0;
    let q = 0;
    for (let c = 0; c < width; c++) {
      s += colSum[c] as number;
      q += colSquares[c] as number;
    }
    for (let x = 0; x < cols; x++) {
      if (x > 0) {
        s += (colSum[x + width - 1] as number) - (colSum[x - 1] as number);
        q += (colSquares[x + width - 1] as number) - (colSquares[x - 1] as number);
      }
      const mean = s - wholeSum;
      let bound = mean * mean * inverseN;
      if (bound <= limit) {
        const dev = Math.sqrt(Math.max(0, q - s * s * inverseN)) - wholeDev;
        bound += dev * dev;
        if (bound <= limit) {
          // the whole-template bound cannot exclude it: the blocks' sum is tighter
          const tighter = blocksBound(pixels, stride, left + x, window.y + y, blocks, limit);
          if (tighter > bound) bound = tighter;
          if (bound <= limit) {
            if (found.length < MAX_SURVIVORS) found.push(y * cols + x);
            else overflow = true;
          }
        }
      }
      if (bound < minBound) minBound = bound;
    }
  }
  return { minBound, positions: overflow ? null : Int32Array.from(found) };
}
