// How an exact search of one window is made, decided from its sizes alone (pure, unit-tested in
// test/needles/search-plan.test.ts; the engine carries it out). Three exact ways exist besides
// OpenCV's matchTemplate:
//   - the sparse search (native/sparsecorr.cc): integer errors summed from the pixels that differ
//     from the most common gray value; it costs (non-zero pixels × positions or template pixels)
//     multiply-adds, so it wins on flat windows — which are where the FFT search gives up, since
//     on a flat window every position's error is within the rounding of the minimum;
//   - the FFT search (native/fftcorr.cc): a few FFTs whatever the content, plus an exact check of
//     the positions near the minimum;
//   - matchTemplate, when neither applies.
// The costs are measured on this machine (docs/benchmarks.md, "Needle matching"): the FFT search
// takes about 0.3 ns per point × log₂(points) of its FFT size (0.11 ms for a 288×90 window, 4.8 ms
// for the whole 1024×768 screen); the sparse search does 2.5–11 multiply-adds per ns (fewer on
// the flattest windows, where its fixed cost weighs most); matchTemplate about 50 per ns of the
// dense count (positions × template pixels) and more on large windows.

/** FFT search time per point of the FFT size and per log₂ of that size, in ns. */
export const FFT_NS_PER_POINT_LOG = 0.3;
/** Sparse multiply-adds per ns, counted low: the sparse search goes first only when surely cheaper. */
export const SPARSE_MACS_PER_NS = 5;
/** A sparse search after the FFT gave up may cost up to this share of the dense count. */
export const SPARSE_FALLBACK_SHARE = 0.125;
/**
 * Windows with fewer template positions than this are searched by matchTemplate (the FFT's fixed
 * cost is not worth it); an ordinary check of a 184×18 area has about 19,000.
 */
export const ADDON_MIN_POSITIONS = 2_048;
/** The sparse search sums in int32: templates up to this many pixels (n × 255² < 2³¹). */
export const SPARSE_MAX_TEMPLATE_PIXELS = 33_025;

export interface SearchPlan {
  /** Try the sparse search first, if it costs at most this many multiply-adds (0: do not). */
  sparseFirst: number;
  /** Then the FFT search. */
  fft: boolean;
  /** When the FFT search gave up for too many near-equal positions, the sparse search may cost this. */
  sparseAfterFft: number;
}

/** The plan for a window of `windowWidth` × `windowHeight` and a `width` × `height` template. */
export function searchPlan(
  window: { width: number; height: number },
  template: { width: number; height: number },
  fftSize: { width: number; height: number },
): SearchPlan {
  const positions = (window.width - template.width + 1) * (window.height - template.height + 1);
  const pixels = template.width * template.height;
  if (positions < ADDON_MIN_POSITIONS) return { sparseFirst: 0, fft: false, sparseAfterFft: 0 };
  const sparse = pixels <= SPARSE_MAX_TEMPLATE_PIXELS;
  const points = fftSize.width * fftSize.height;
  const fftNs = FFT_NS_PER_POINT_LOG * points * Math.log2(points);
  return {
    sparseFirst: sparse ? fftNs * SPARSE_MACS_PER_NS : 0,
    fft: true,
    sparseAfterFft: sparse ? positions * pixels * SPARSE_FALLBACK_SHARE : 0,
  };
}
