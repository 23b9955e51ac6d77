// The pure decisions of needle matching, with openQA's (os-autoinst tinycv) semantics:
// where to search, which of the good template positions to take, how an error becomes a
// similarity, and how candidates are ranked. No OpenCV here, so all of it is unit-tested directly.
import type { AreaMatch, Candidate, Needle, NeedleArea } from '../../domain/needles/types.js';

/** openQA widens every margin by 2 % of (1024 − margin) on ordinary checks (search_ratio 0.02). */
export const ORDINARY_SEARCH_RATIO = 0.02;

/** The margin a check really uses: openQA's `margin + ratio × (1024 − margin)`, truncated. */
export function effectiveMargin(margin: number, fullSearch: boolean): number {
  if (fullSearch) return Number.POSITIVE_INFINITY;
  return Math.trunc(margin + ORDINARY_SEARCH_RATIO * (1024 - margin));
}

/** os-autoinst's mapping of mean squared error (0..255²) to similarity: MSE 2 → 1, MSE 40 → 0.9. */
export function similarityFromMse(mse: number): number {
  const similarity = 0.9 + (40 - mse) / 380;
  return Math.min(1, Math.max(0, similarity));
}

export interface SearchWindow {
  /** The area's position scaled to the screen (openQA scales positions, never the template). */
  x: number;
  y: number;
  /** The screen rectangle searched (area ± margin, clipped to the screen). */
  left: number;
  top: number;
  right: number;
  bottom: number;
}

/**
 * Where to look for one area, or null when the area cannot be compared at all (it lies outside the
 * screen, or the clipped window is smaller than the area): openQA then reports similarity 0.
 */
export function searchWindow(
  area: Pick<NeedleArea, 'xpos' | 'ypos' | 'width' | 'height'>,
  margin: number,
  needleSize: { width: number; height: number },
  screen: { width: number; height: number },
): SearchWindow | null {
  const { xpos, ypos, width, height } = area;
  // Checked with the unscaled position, as os-autoinst does.
  if (ypos + height > screen.height || xpos + width > screen.width) return null;
  const x = Math.trunc((xpos * screen.width) / needleSize.width);
  const y = Math.trunc((ypos * screen.height) / needleSize.height);
  const m = Math.min(margin, 1 << 20);
  const left = Math.max(0, x - m);
  const top = Math.max(0, y - m);
  const right = Math.min(screen.width, x + width + m);
  const bottom = Math.min(screen.height, y + height + m);
  if (right - left < width || bottom - top < height) return null;
  return { x, y, left, top, right, bottom };
}

const f32 = Math.fround;

/**
 * Picks the template position from a TM_SQDIFF result (row-major, `cols` wide) the way tinycv
 * does: collect the positions whose error is within 10 of the best seen so far (starting from the
 * error at the recorded position, and restarting whenever a strictly better one appears), then take
 * the one nearest the recorded position. Float32 arithmetic as in tinycv. Unlike tinycv, the
 * distance is measured in screen coordinates for every window (tinycv compares window-relative
 * positions with the screen position, which only matters among near-equal positions).
 *
 * `values` is the whole result, or, with `positions` (row-major indexes, ascending), the errors at
 * those positions only: any subset holding every position whose error is within 10 of the minimum
 * gives the same answer as the whole result (positions outside it can never be chosen).
 * Returns the position's index into the result, or -1 when no position qualifies.
 */
export function pickNearestGood(
  values: ArrayLike<number>,
  cols: number,
  errorAtRecorded: number,
  recordedCol: number,
  recordedRow: number,
  positions?: ArrayLike<number>,
): number {
  // Two passes instead of collecting: the good positions after the last restart are those from
  // it on whose error is within the final threshold (the threshold does not change after it).
  let threshold = f32(f32(errorAtRecorded) + 10);
  let from = 0;
  for (let k = 0; k < values.length; k++) {
    const v = f32(values[k]!); // exact errors (doubles) compare as tinycv's float32 ones
    if (v <= threshold && f32(v + 10) < threshold) {
      threshold = f32(v + 10);
      from = k;
    }
  }
  let best = -1;
  let bestDistance = Number.POSITIVE_INFINITY;
  // positions ascend, so rows never go back: one division per row, and none past the point where
  // the rows alone are farther than the best so far
  let row = -1;
  let rowStart = Number.NEGATIVE_INFINITY;
  for (let k = from; k < values.length; k++) {
    if (f32(values[k]!) > threshold) continue;
    const i = positions ? positions[k]! : k;
    if (i >= rowStart + cols) {
      row = Math.trunc(i / cols);
      rowStart = row * cols;
    }
    const dy = row - recordedRow;
    if (dy > 0 && dy * dy >= bestDistance) break;
    const dx = i - rowStart - recordedCol;
    const distance = dx * dx + dy * dy;
    if (distance < bestDistance) {
      bestDistance = distance;
      best = i;
    }
  }
  return best;
}

export function hasWorkaround(needle: Needle): boolean {
  return needle.properties.some((p) => p.name === 'workaround');
}

/** One candidate's verdict from its match areas' results. */
export function candidateFrom(needle: Needle, areas: AreaMatch[]): Candidate {
  const ok = areas.every((a) => a.similarity >= a.required);
  const error = areas.length ? areas.reduce((sum, a) => sum + (1 - a.similarity) ** 2, 0) / areas.length : 0;
  const similarity = areas.length ? Math.min(...areas.map((a) => a.similarity)) : 1;
  return { needle, areas, ok, similarity, error, workaround: hasWorkaround(needle) };
}

/** openQA's order: matches first, then smaller error, then workaround needles, then by name. */
export function compareCandidates(a: Candidate, b: Candidate): number {
  if (a.ok !== b.ok) return a.ok ? -1 : 1;
  const byError = (a.error ?? 0) - (b.error ?? 0);
  if (byError !== 0) return byError;
  if (a.workaround !== b.workaround) return a.workaround ? -1 : 1;
  return a.needle.name < b.needle.name ? -1 : a.needle.name > b.needle.name ? 1 : 0;
}
