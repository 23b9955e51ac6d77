// The FFT correlation addon (./native/fftcorr.cc, built by scripts/build-fftcorr.sh): the exact
// search of a large window (a whole-screen search) in a few FFTs instead of OpenCV's
// matchTemplate. See docs/needles.md, "The whole-screen search by FFT".
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { KubeqaError } from '../../domain/errors.js';
import { packageRoot } from '../../runtime/package-root.js';

export interface SceneSpectrum {
  spectrum: Float32Array;
  /** The integer subtracted from every pixel before the FFT (the window's rounded mean). */
  shift: number;
  /** ‖window − shift‖₂. */
  norm2: number;
}

export interface TemplateSpectrum {
  /** Conjugated. */
  spectrum: Float32Array;
  shift: number;
  norm2: number;
  /** Σ(T − shift). */
  sumShifted: number;
  /** Σ(T − shift)². */
  sumSqShifted: number;
}

export interface Candidates {
  /** Row-major indexes into the window's positions (cols = width − tw + 1), ascending. */
  positions: Int32Array;
  /** Their exact squared errors. */
  values: Float64Array;
  /** The smallest rounded error. */
  roughMin: number;
  /** The largest |rounded − exact| seen at the candidates and at 64 sample positions. */
  maxError: number;
}

/** What the sparse search (./native/sparsecorr.cc) found: every position near the minimum, exactly. */
export interface SparseCandidates {
  /** Row-major indexes into the window's positions (cols = width − tw + 1), ascending. */
  positions: Int32Array;
  /** Their exact squared errors (all within the slack of `min`). */
  values: Float64Array;
  /** The smallest squared error in the window, exactly. */
  min: number;
  /** Multiply-adds the correlation took. */
  work: number;
  /** Which side's non-zero pixels the correlation was summed from. */
  from: 'template' | 'window';
}

export interface FftCorrAddon {
  fftSize(n: number): number;
  sceneSpectrum(
    pixels: Uint8Array,
    stride: number,
    x0: number,
    y0: number,
    width: number,
    height: number,
    fftWidth: number,
    fftHeight: number,
    /** Filled: 2 × fftHeight × (fftWidth / 2 + 1) floats. */
    spectrum: Float32Array,
  ): { shift: number; norm2: number };
  templateSpectrum(
    pixels: Uint8Array,
    width: number,
    height: number,
    fftWidth: number,
    fftHeight: number,
  ): TemplateSpectrum;
  search(
    scenePixels: Uint8Array,
    stride: number,
    x0: number,
    y0: number,
    width: number,
    height: number,
    fftWidth: number,
    fftHeight: number,
    sceneSpectrum: Float32Array,
    sceneShift: number,
    templatePixels: Uint8Array,
    tw: number,
    th: number,
    templateSpectrum: Float32Array,
    templateShift: number,
    templateSumShifted: number,
    templateSumSqShifted: number,
    slack: number,
    maxCandidates: number,
  ): Candidates | null;
  /**
   * The exact error at every position of a window, from the pixels that differ from the window's
   * and the template's most common value; null when that costs more than `maxWork` multiply-adds.
   * Templates of at most 33,025 pixels.
   */
  sparseSearch(
    pixels: Uint8Array,
    stride: number,
    x0: number,
    y0: number,
    width: number,
    height: number,
    templatePixels: Uint8Array,
    tw: number,
    th: number,
    maxWork: number,
    slack: number,
  ): SparseCandidates | null;
}

const require = createRequire(import.meta.url);
const loaded = new Map<string, FftCorrAddon>();

/** True when this CPU runs the AVX2 + FMA build (x86-64 Linux: /proc/cpuinfo says). */
export function cpuHasAvx2(): boolean {
  if (process.arch !== 'x64') return false;
  try {
    const flags = /^flags\s*:(.*)$/m.exec(readFileSync('/proc/cpuinfo', 'utf8'))?.[1]?.split(/\s+/) ?? [];
    return flags.includes('avx2') && flags.includes('fma');
  } catch {
    return false;
  }
}

/**
 * Where scripts/build-fftcorr.sh leaves the addon (the worker image copies it there too): the
 * AVX2 + FMA build where the CPU has them, else the one for any x86-64 (or other architecture).
 * KUBEQA_FFTCORR_ADDON names another file.
 */
export function fftcorrAddonPath(variant: 'avx2' | 'baseline' = cpuHasAvx2() ? 'avx2' : 'baseline'): string {
  const name = variant === 'avx2' ? 'kubeqa_fftcorr_avx2.node' : 'kubeqa_fftcorr.node';
  return (
    process.env.KUBEQA_FFTCORR_ADDON ??
    join(packageRoot(), 'worker-image', 'needles', 'native', 'build', 'Release', name)
  );
}

/** Loads the addon, or fails with how to build it (there is no silent fallback). */
export function loadFftCorr(path = fftcorrAddonPath()): FftCorrAddon {
  let addon = loaded.get(path);
  if (addon) return addon;
  try {
    addon = require(path) as FftCorrAddon;
    if (typeof addon.search !== 'function') throw new Error('it does not export search()');
  } catch (error) {
    throw new KubeqaError(
      'KQ_ERR_MISSING_TOOL',
      `the needle matcher's FFT addon cannot be loaded from ${path}: ${(error as Error).message.split('\n')[0]}`,
      'run ./scripts/setup.sh (it builds worker-image/needles/native with node-gyp: apt-get install -y g++ make python3)',
      { cause: error },
    );
  }
  loaded.set(path, addon);
  return addon;
}

/** float32's unit roundoff. */
const U = 2 ** -24;

/**
 * The rounding allowance for the FFT errors: a position whose rounded error is within
 * `10 + 2 × bound` of the rounded minimum is recomputed exactly. The FFT's rounding behaves like
 * noise of about `2·u·√(log₂ N)·‖S′‖·‖T′‖` in the error (plus float32 rounding of the error's own sum,
 * bounded separately); the bound is 16 times that, and the addon measures the real rounding at every candidate and at 64 sample
 * positions: a measured error above half the bound makes the engine discard the FFT result.
 */
export function roundingBound(
  scene: { norm2: number },
  template: { norm2: number },
  templatePixels: number,
  fftW: number,
  fftH: number,
): number {
  const logN = Math.log2(fftW * fftH);
  // the correlation's rounding (the error counts it twice)
  const noise = 2 * U * Math.sqrt(logN) * scene.norm2 * template.norm2;
  // the error itself is summed in float32 from terms of up to 2 × n × 255² each
  const sum = 16 * U * templatePixels * 255 * 255;
  return 16 * noise + sum + 64;
}
