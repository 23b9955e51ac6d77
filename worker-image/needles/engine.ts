// The OpenCV part of needle matching (synchronous; it runs inside the matcher's worker thread).
// Semantics follow os-autoinst's tinycv: the screen and the needle image are converted to
// grayscale and blurred with a 3×3 Gaussian; exclude areas are painted green on both (at the
// needle's recorded position) before that; each match area is searched by squared-difference
// template matching within its window, the good position nearest the recorded one is taken, and
// its mean squared error becomes the similarity.
//
// Speed: only the windows (and the ring the blur reads) are converted and blurred, once per check
// and window, shared by every candidate without exclude areas; needle images are decoded,
// converted and blurred once and cached, with their areas' templates; an area found unchanged at
// its recorded position needs no search; windows of 2,048 positions or more are searched by the
// addon's exact sparse or FFT search (search-plan.ts decides) instead of matchTemplate; where
// matchTemplate runs, a small result is scanned here instead of by several OpenCV calls, and
// verdict-only checks rule positions out by exact lower bounds first (prefilter.ts).
import { readFileSync } from 'node:fs';
import type { NeedleArea } from '../../domain/needles/types.js';
import { createLogger } from '../../runtime/logger.js';
import {
  type FftCorrAddon,
  loadFftCorr,
  roundingBound,
  type SceneSpectrum,
  type TemplateSpectrum,
} from './fftcorr.js';
import { type CV, loadOpenCV, type Mat, withMats } from './opencv.js';
import { survivingPositions } from './prefilter.js';
import { pickNearestGood, type SearchWindow, searchWindow, similarityFromMse } from './scoring.js';
import { searchPlan } from './search-plan.js';

/** The rectangle `left … left + cols` × `top … top + rows` of a screen, packed RGB(A) rows. */
export interface ScreenBand {
  /** The whole screen's size. */
  width: number;
  height: number;
  channels: 3 | 4;
  top: number;
  rows: number;
  left: number;
  cols: number;
  data: Uint8Array;
}

export interface NeedleSpec {
  /** The needle PNG; also the cache key. */
  pngPath: string;
  areas: NeedleArea[];
}

export interface AreaResult {
  /** Index into the needle's areas (match areas only). */
  area: number;
  x: number;
  y: number;
  similarity: number;
  /**
   * Set when a verdict-only check proved the area fails without finding its best position:
   * `similarity` is then an upper bound (the real one is at most this) and x/y are not a match.
   */
  bounded?: true;
}

/** What a check must answer. */
export interface MatchMode {
  /**
   * Only whether each area reaches its match level matters (checks before the deadline): a large
   * search may stop once a lower bound of the error shows no position can pass. Passing areas
   * are always exact; a failing one may come back `bounded`.
   */
  verdictOnly?: boolean;
}

/** Results up to this many positions are scanned in JavaScript (ordinary checks' windows). */
const SCAN_IN_JS_MAX = 65_536;

/**
 * Verdict-only checks of windows with fewer template positions than this are searched directly
 * (the bound would cost more). An ordinary check's window has about 19,000 (margin 69).
 */
const PREFILTER_MIN_POSITIONS = 2_048;

type Found = { x: number; y: number; similarity: number; bounded?: true };

interface NeedleImage {
  key: string;
  /** Grayscale, exclude areas painted, blurred. */
  gray: Mat;
  width: number;
  height: number;
  /** Per area index: its pixels with a 1 px ring (clipped to the image), packed RGB. */
  crops: Map<number, { rect: Ring; rgb: Uint8Array }>;
  /** Per area index: the area cut out of `gray` (a view of it) and its pixels, made on first use. */
  templates: Map<number, Template>;
  lastUse: number;
}

interface Template {
  /** The needle's cache key and the area's index. */
  id: string;
  mat: Mat;
  pixels: Uint8Array;
}

/** One area's exact search: the prepared region searched, the area's template, its window. */
interface AreaSearch {
  /** The prepared (gray, painted, blurred) region and where it lies on the screen. */
  scene: Mat;
  ring: Ring;
  template: Template;
  area: NeedleArea;
  w: SearchWindow;
  /** The exact error at the recorded position; infinite when it lies outside the window. */
  atRecorded: number;
}

/** More candidates than this near the FFT's minimum (flat templates): matchTemplate decides. */
const FFT_MAX_CANDIDATES = 4_096;

/**
 * The sparse search returns every position within this of the minimum: 10 (tinycv's "near the
 * minimum") and two float32 roundings of errors below 2³¹ (tinycv compares float32 errors).
 */
const SPARSE_SLACK = 10 + 2 * 128;

/** Template spectra kept (about 3 MB each at 1024×768). */
const TEMPLATE_SPECTRA_KEPT = 32;

const log = createLogger('needles');

/** Prepared regions up to this many pixels are fetched once, and errors computed from them here. */
const FETCH_SCENE_MAX = 262_144;

/** A rectangle around an area, one pixel wider on every side, clipped to an image. */
interface Ring {
  x: number;
  y: number;
  width: number;
  height: number;
  /** How much of the ring was cut off on the left and top (0 or 1). */
  cutLeft: number;
  cutTop: number;
}

function ringAround(
  x: number,
  y: number,
  width: number,
  height: number,
  imageWidth: number,
  imageHeight: number,
): Ring {
  const x0 = Math.max(0, x - 1);
  const y0 = Math.max(0, y - 1);
  const x1 = Math.min(imageWidth, x + width + 1);
  const y1 = Math.min(imageHeight, y + height + 1);
  return { x: x0, y: y0, width: x1 - x0, height: y1 - y0, cutLeft: 1 - (x - x0), cutTop: 1 - (y - y0) };
}

/**
 * The exact squared error of a `width`×`height` template against the region's pixels at column
 * `x`, row `y` (integers, so exact whatever the order of summing).
 */
function squaredError(
  pixels: Uint8Array,
  stride: number,
  x: number,
  y: number,
  template: Uint8Array,
  width: number,
  height: number,
): number {
  let total = 0;
  for (let r = 0; r < height; r++) {
    let i = (y + r) * stride + x;
    let j = r * width;
    for (let c = 0; c < width; c++, i++, j++) {
      const d = (pixels[i] as number) - (template[j] as number);
      total += d * d;
    }
  }
  return total;
}

function overlaps(a: { xpos: number; ypos: number; width: number; height: number }, r: Ring): boolean {
  return (
    a.xpos < r.x + r.width && r.x < a.xpos + a.width && a.ypos < r.y + r.height && r.y < a.ypos + a.height
  );
}

const GREEN_GRAY_CACHE = new Map<CV, number>();

/** The gray value of pure green (os-autoinst paints exclude areas CV_RGB(0, 255, 0)). */
function greenGray(cv: CV): number {
  let value = GREEN_GRAY_CACHE.get(cv);
  if (value === undefined) {
    value = withMats((keep) => {
      const px = keep(new cv.Mat(1, 1, cv.CV_8UC3, [0, 255, 0])); // BGR
      return keep(px.cvtColor(cv.COLOR_BGR2GRAY)).at(0, 0) as number;
    });
    GREEN_GRAY_CACHE.set(cv, value);
  }
  return value;
}

function excludesOf(areas: NeedleArea[]): NeedleArea[] {
  return areas.filter((a) => a.type === 'exclude');
}

/** Paints exclude areas (in screen/needle coordinates) on a gray Mat whose row 0 is `top`. */
function paintExcludes(
  cv: CV,
  gray: Mat,
  excludes: NeedleArea[],
  top: number,
  fullHeight: number,
  fullWidth: number,
) {
  const value = greenGray(cv);
  for (const e of excludes) {
    // os-autoinst skips an exclude area that does not fit the image.
    if (e.xpos + e.width > fullWidth || e.ypos + e.height > fullHeight) continue;
    const y0 = Math.max(e.ypos, top);
    const y1 = Math.min(e.ypos + e.height, top + gray.rows);
    if (y1 <= y0) continue;
    gray.drawRectangle(new cv.Rect(e.xpos, y0 - top, e.width, y1 - y0), new cv.Vec3(value, value, value), -1);
  }
}

function releaseNeedle(image: NeedleImage): void {
  for (const template of image.templates.values()) template.mat.release();
  image.gray.release();
}

export class MatchEngine {
  private readonly cv: CV = loadOpenCV();
  private readonly needles = new Map<string, NeedleImage>();
  private tick = 0;
  /** Pixels of the last prepared screen region searched with the bound. */
  private pixelsOf: { scene: Mat; pixels: Uint8Array } | undefined;
  /** Squared distances from a recorded position over a result of a given size (few distinct). */
  private readonly distances = new Map<string, Mat>();

  private distanceMap(rows: number, cols: number, cx: number, cy: number): Mat {
    const key = `${rows}x${cols}@${cx},${cy}`;
    let map = this.distances.get(key);
    if (!map) {
      const values = new Float32Array(rows * cols);
      for (let y = 0, i = 0; y < rows; y++) {
        const dy = (y - cy) * (y - cy);
        for (let x = 0; x < cols; x++, i++) values[i] = dy + (x - cx) * (x - cx);
      }
      map = new this.cv.Mat(Buffer.from(values.buffer), rows, cols, this.cv.CV_32F);
      this.distances.set(key, map);
      if (this.distances.size > 8) {
        const [oldest, mat] = this.distances.entries().next().value as [string, Mat];
        mat.release();
        this.distances.delete(oldest);
      }
    }
    return map;
  }

  /**
   * The last large window (a full search) that was searched: its screen rows, byte for byte, and
   * the results found in it. A full search of an unchanged screen (the runner asks for one every
   * 5th check while it waits) then costs one memory comparison instead of a template match.
   */
  private lastLarge: { key: string; rows: Buffer; results: Map<string, Found> } | undefined;

  /** The FFT addon; undefined when constructed without it (tests compare both paths). */
  private readonly fft: FftCorrAddon | undefined;
  /** Spectra of windows of the last prepared region searched by FFT. */
  private sceneSpectra: { scene: Mat; byWindow: Map<string, SceneSpectrum> } | undefined;
  /**
   * Spectrum arrays of earlier screens, by length, reused for the next screen: a fresh 3 MB array
   * per screen costs about as much in page faults as the FFT itself.
   */
  private readonly spareSpectra = new Map<number, Float32Array[]>();
  /** Template spectra by template and FFT size, least recently used first. */
  private readonly templateSpectra = new Map<string, TemplateSpectrum>();
  /** How many exact searches of smaller windows were summed sparsely, and how many were not. */
  readonly sparseStats = { searches: 0, fromTemplate: 0, declined: 0 };
  /** FFT searches, and how many gave up (too many near-ties, the rounding check). */
  readonly fftStats = {
    searches: 0,
    tooManyCandidates: 0,
    roundingExceeded: 0,
    /** The largest measured rounding over the bound assumed (must stay below 0.5). */
    worstRounding: 0,
    /** The most candidates one search recomputed exactly. */
    mostCandidates: 0,
  };

  constructor(
    private readonly cacheLimit = 300,
    /** Reuse full-search results on an unchanged screen (off only to measure the search itself). */
    private readonly reuseUnchangedScreens = true,
    /** Results up to this many positions are scanned in JavaScript (0: always by OpenCV; tests). */
    private readonly scanInJsMax = SCAN_IN_JS_MAX,
    /** Search windows by the addon's exact searches, sparse and FFT (off: always OpenCV's matchTemplate; tests, bench). */
    useFft = true,
  ) {
    this.fft = useFft ? loadFftCorr() : undefined;
    // OpenCV's parallel loops (gray conversion, blur) cost more CPU than they save on a check's
    // windows, and the guest's QEMU threads want the other cores: one thread (docs/needles.md).
    this.cv.setNumThreads(1);
  }

  /** Results of the last full search, if the part of the screen it covered is unchanged. */
  private largeWindowCache(band: ScreenBand, window: SearchWindow) {
    const screenArea = band.width * band.height;
    if (
      !this.reuseUnchangedScreens ||
      (window.right - window.left) * (window.bottom - window.top) * 4 < screenArea
    ) {
      return undefined;
    }
    // the band holds the window and the ring the blur reads (and whatever other windows need)
    const pixels = Buffer.from(band.data.buffer, band.data.byteOffset, band.rows * band.cols * band.channels);
    const key = `${band.width}x${band.height}x${band.channels}|${band.left},${band.top},${band.cols},${band.rows}|${window.left},${window.top},${window.right},${window.bottom}`;
    if (!this.lastLarge || this.lastLarge.key !== key || !this.lastLarge.rows.equals(pixels)) {
      this.lastLarge = { key, rows: Buffer.from(pixels), results: new Map() };
    }
    return this.lastLarge.results;
  }

  /** Decodes, paints and blurs a needle image once; later checks reuse it. */
  private needleImage(spec: NeedleSpec): NeedleImage {
    // the areas are part of the key: the crops and templates kept with the image are theirs
    const key = `${spec.pngPath}\0${JSON.stringify(spec.areas)}`;
    const cached = this.needles.get(key);
    if (cached) {
      cached.lastUse = ++this.tick;
      return cached;
    }
    const { cv } = this;
    const image = withMats((keep) => {
      const color = keep(cv.imdecode(readFileSync(spec.pngPath), cv.IMREAD_COLOR));
      if (color.empty) throw new Error(`${spec.pngPath} cannot be decoded as an image`);
      const gray = keep(color.cvtColor(cv.COLOR_BGR2GRAY));
      const excludes = excludesOf(spec.areas);
      paintExcludes(cv, gray, excludes, 0, gray.rows, gray.cols);
      const crops = new Map<number, { rect: Ring; rgb: Uint8Array }>();
      spec.areas.forEach((area, index) => {
        if (area.type !== 'match') return;
        const rect = ringAround(area.xpos, area.ypos, area.width, area.height, color.cols, color.rows);
        if (excludes.some((e) => overlaps(e, rect))) return; // painted: compare the slow way
        const region = keep(color.getRegion(new cv.Rect(rect.x, rect.y, rect.width, rect.height)));
        const rgb = keep(region.cvtColor(cv.COLOR_BGR2RGB));
        crops.set(index, { rect, rgb: new Uint8Array(rgb.getData()) });
      });
      return {
        key,
        gray: gray.gaussianBlur(new cv.Size(3, 3), 0),
        width: color.cols,
        height: color.rows,
        crops,
        templates: new Map<number, Template>(),
      };
    });
    this.needles.set(key, { ...image, lastUse: ++this.tick });
    if (this.needles.size > this.cacheLimit) {
      const oldest = [...this.needles.entries()].sort((a, b) => a[1].lastUse - b[1].lastUse)[0]!;
      releaseNeedle(oldest[1]);
      this.needles.delete(oldest[0]);
    }
    return { ...image, lastUse: this.tick };
  }

  /** Decodes the needle images ahead of the first check (optional). */
  preload(specs: NeedleSpec[]): void {
    for (const spec of specs) this.needleImage(spec);
  }

  /** Similarities of every match area of every needle on one screen. */
  match(
    band: ScreenBand,
    specs: NeedleSpec[],
    margins: (area: NeedleArea) => number,
    mode: MatchMode = {},
  ): AreaResult[][] {
    const { cv } = this;
    return withMats((keep) => {
      const type = band.channels === 4 ? cv.CV_8UC4 : cv.CV_8UC3;
      let color: Mat | undefined; // made on first need: unchanged areas never need it
      const colorMat = () => {
        const buffer = Buffer.from(
          band.data.buffer,
          band.data.byteOffset,
          band.rows * band.cols * band.channels,
        );
        color ??= keep(new cv.Mat(buffer, band.rows, band.cols, type));
        return color;
      };
      const screen = { width: band.width, height: band.height };
      // Prepared (gray, painted, blurred) screen regions, shared by needles with the same window.
      const prepared = new Map<string, { mat: Mat; ring: Ring }>();

      const prepare = (window: SearchWindow, excludes: NeedleArea[]) => {
        const ring = ringAround(
          window.left,
          window.top,
          window.right - window.left,
          window.bottom - window.top,
          band.width,
          band.height,
        );
        const key = `${ring.x},${ring.y},${ring.width},${ring.height}|${JSON.stringify(excludes)}`;
        let entry = prepared.get(key);
        if (!entry) {
          const region = keep(
            colorMat().getRegion(new cv.Rect(ring.x - band.left, ring.y - band.top, ring.width, ring.height)),
          );
          const gray = keep(region.cvtColor(band.channels === 4 ? cv.COLOR_RGBA2GRAY : cv.COLOR_RGB2GRAY));
          paintExcludes(
            cv,
            gray,
            excludes.map((e) => ({ ...e, xpos: e.xpos - ring.x })),
            ring.y,
            band.height,
            band.width - ring.x,
          );
          // Reflection at the region's edges only touches the ring, which is not searched;
          // where the ring is cut off by the screen edge, it reflects as on the whole screen.
          entry = { mat: keep(gray.gaussianBlur(new cv.Size(3, 3), 0)), ring };
          prepared.set(key, entry);
        }
        return entry;
      };

      return specs.map((spec) => {
        const needle = this.needleImage(spec);
        const excludes = excludesOf(spec.areas);
        const results: AreaResult[] = [];
        spec.areas.forEach((area, index) => {
          if (area.type !== 'match') return;
          const window = searchWindow(area, margins(area), needle, screen);
          if (!window) {
            results.push({ area: index, x: 0, y: 0, similarity: 0 });
            return;
          }
          if (this.unchangedInPlace(band, needle, area, index, window)) {
            results.push({ area: index, x: window.x, y: window.y, similarity: 1 });
            return;
          }
          const reuse = this.largeWindowCache(band, window);
          const reuseKey = `${spec.pngPath}\0${JSON.stringify(excludes)}\0${index}`;
          let found = reuse?.get(reuseKey);
          // a bounded result answers only verdict-only checks
          if (!found || (found.bounded && !mode.verdictOnly)) {
            const scene = prepare(window, excludes);
            const level = mode.verdictOnly ? area.match / 100 : undefined;
            const template = this.templateOf(needle, area, index);
            found = this.searchArea(scene.mat, scene.ring, template, area, window, level);
            reuse?.set(reuseKey, found);
          }
          results.push({ area: index, ...found });
        });
        return results;
      });
    });
  }

  /**
   * True when the area's pixels and their 1 px ring are byte-for-byte the needle's at the
   * recorded position: then the blurred gray values are equal too, the error is 0 and os-autoinst
   * takes the recorded position without searching (similarity 1). Checked on the raw pixels,
   * before any conversion.
   */
  private unchangedInPlace(
    band: ScreenBand,
    needle: NeedleImage,
    area: NeedleArea,
    index: number,
    w: SearchWindow,
  ): boolean {
    const crop = needle.crops.get(index);
    if (!crop) return false;
    const { rect } = crop;
    // The same ring at the recorded position on the screen, which must be cut off by the
    // screen's edges exactly where the needle's is cut off by the image's edges.
    const s = ringAround(w.x, w.y, area.width, area.height, band.width, band.height);
    if (
      s.width !== rect.width ||
      s.height !== rect.height ||
      s.cutLeft !== rect.cutLeft ||
      s.cutTop !== rect.cutTop
    ) {
      return false;
    }
    if (s.y < band.top || s.y + s.height > band.top + band.rows) return false;
    if (s.x < band.left || s.x + s.width > band.left + band.cols) return false;
    const c = band.channels;
    const rgb = crop.rgb;
    for (let y = 0; y < s.height; y++) {
      let i = ((s.y - band.top + y) * band.cols + s.x - band.left) * c;
      let j = y * s.width * 3;
      for (let x = 0; x < s.width; x++, i += c, j += 3) {
        if (band.data[i] !== rgb[j] || band.data[i + 1] !== rgb[j + 1] || band.data[i + 2] !== rgb[j + 2])
          return false;
      }
    }
    return true;
  }

  /** The area cut out of the needle's prepared image, and its pixels (kept with the needle). */
  private templateOf(needle: NeedleImage, area: NeedleArea, index: number): Template {
    let template = needle.templates.get(index);
    if (!template) {
      const { cv } = this;
      const mat = needle.gray.getRegion(new cv.Rect(area.xpos, area.ypos, area.width, area.height));
      const pixels = withMats((keep) => new Uint8Array(keep(mat.copy()).getData()));
      template = { id: `${needle.key}\0${index}`, mat, pixels };
      needle.templates.set(index, template);
    }
    return template;
  }

  /** The prepared region's pixels, fetched once however many needles of the check search it. */
  private scenePixels(scene: Mat): Uint8Array {
    if (this.pixelsOf?.scene !== scene) {
      const data = scene.getData(); // a copy already: viewed, not copied again
      this.pixelsOf = { scene, pixels: new Uint8Array(data.buffer, data.byteOffset, data.length) };
    }
    return this.pixelsOf.pixels;
  }

  private searchArea(
    scene: Mat,
    ring: Ring,
    templateEntry: Template,
    area: NeedleArea,
    window: SearchWindow,
    verdictLevel?: number,
  ): Found {
    const { cv } = this;
    const { width, height } = area;
    const { mat: template, pixels: templatePixels } = templateEntry;
    return withMats((keep) => {
      const w = window;
      const positions = (w.right - w.left - width + 1) * (w.bottom - w.top - height + 1);
      // the exact squared error at a screen position (integers: exact either way)
      const pixels = scene.rows * scene.cols <= FETCH_SCENE_MAX ? this.scenePixels(scene) : undefined;
      const stride = scene.cols;
      const sse = (x: number, y: number) => {
        if (!pixels) {
          return withMats((keep2) =>
            keep2(scene.getRegion(new cv.Rect(x - ring.x, y - ring.y, width, height))).norm(
              template,
              cv.NORM_L2SQR,
            ),
          );
        }
        return squaredError(pixels, stride, x - ring.x, y - ring.y, templatePixels, width, height);
      };
      const recordedInside =
        w.x >= w.left && w.y >= w.top && w.x + width <= w.right && w.y + height <= w.bottom;
      const atRecorded = recordedInside ? sse(w.x, w.y) : Number.POSITIVE_INFINITY;
      // Unchanged at the recorded position: os-autoinst stops there too (error 0 → similarity 1).
      if (atRecorded === 0) return { x: w.x, y: w.y, similarity: 1 };
      // the addon's searches are exact, and cheaper than the bounds' prefilter where they apply
      if (this.fft) {
        const found = this.addonSearch(this.fft, {
          scene,
          ring,
          template: templateEntry,
          area,
          w,
          atRecorded,
        });
        if (found) return found;
      }
      if (verdictLevel !== undefined && positions >= PREFILTER_MIN_POSITIONS) {
        const quick = this.verdictSearch(scene, ring, templatePixels, area, w, verdictLevel, atRecorded);
        if (quick) return quick;
      }
      // scene coordinates of the window inside the prepared region
      const ox = w.left - ring.x;
      const oy = w.top - ring.y;

      const region = keep(scene.getRegion(new cv.Rect(ox, oy, w.right - w.left, w.bottom - w.top)));
      const result = keep(region.matchTemplate(template, cv.TM_SQDIFF));
      const cols = result.cols;
      const centerCol = w.x - w.left;
      const centerRow = w.y - w.top;
      let best: number;
      if (positions <= this.scanInJsMax) {
        // A small result (an ordinary check): one copy and a scan here cost less than the
        // OpenCV calls that would find the near positions.
        const bytes = result.getData();
        const values = new Float32Array(bytes.length / 4);
        new Uint8Array(values.buffer).set(bytes);
        // matchTemplate's own (float) error at the recorded position, as tinycv compares
        const floatAtRecorded = recordedInside
          ? (values[centerRow * cols + centerCol] as number)
          : Number.POSITIVE_INFINITY;
        if (floatAtRecorded === 0) return { x: w.x, y: w.y, similarity: 1 };
        best = pickNearestGood(values, cols, floatAtRecorded, centerCol, centerRow);
        if (best < 0) return { x: 0, y: 0, similarity: 0 };
        const x = w.left + (best % cols);
        const y = w.top + Math.trunc(best / cols);
        return { x, y, similarity: similarityFromMse(sse(x, y) / (width * height)) };
      }
      const floatAtRecorded = recordedInside
        ? (result.at(centerRow, centerCol) as number)
        : Number.POSITIVE_INFINITY;
      if (floatAtRecorded === 0) return { x: w.x, y: w.y, similarity: 1 };
      // Only positions within 10 of the minimum can be chosen: let OpenCV find them.
      const { minVal } = result.minMaxLoc();
      const near = keep(
        keep(result.threshold(Math.fround(minVal + 10), 1, cv.THRESH_BINARY_INV)).convertTo(cv.CV_8U),
      );
      if (near.countNonZero() <= 256) {
        const points = near.findNonZero();
        const positions = new Int32Array(points.length);
        const values = new Float32Array(points.length);
        points.forEach((p, k) => {
          positions[k] = p.y * cols + p.x;
          values[k] = result.at(p.y, p.x) as number;
        });
        best = pickNearestGood(values, cols, floatAtRecorded, centerCol, centerRow, positions);
      } else {
        // Many near-equal positions (a flat template on a flat background). The same choice,
        // made by OpenCV: the first minimum in scan order (minMaxLoc) restarts the collection
        // unless the recorded position is itself minimal; of the near positions from there on,
        // take the nearest to the recorded position (the first in scan order among equals).
        const { minLoc } = result.minMaxLoc();
        if (Math.fround(minVal) < Math.fround(floatAtRecorded)) {
          const zero = new cv.Vec3(0, 0, 0);
          if (minLoc.y > 0) near.drawRectangle(new cv.Rect(0, 0, cols, minLoc.y), zero, -1);
          if (minLoc.x > 0) near.drawRectangle(new cv.Rect(0, minLoc.y, minLoc.x, 1), zero, -1);
        }
        const distances = this.distanceMap(result.rows, cols, centerCol, centerRow);
        const nearest = distances.minMaxLoc(near).minLoc;
        best = nearest.y * cols + nearest.x;
      }
      if (best < 0) return { x: 0, y: 0, similarity: 0 };
      const x = w.left + (best % cols);
      const y = w.top + Math.trunc(best / cols);
      return { x, y, similarity: similarityFromMse(sse(x, y) / (width * height)) };
    });
  }

  /**
   * The exact search by the addon, as ./search-plan.ts decides from the sizes: sparse where few
   * pixels differ from the most common gray value, else by FFT, else sparse when the FFT gave up
   * on near-equal positions. Undefined: search with matchTemplate.
   */
  private addonSearch(fft: FftCorrAddon, search: AreaSearch): Found | undefined {
    const { area, w } = search;
    const winW = w.right - w.left;
    const winH = w.bottom - w.top;
    let fftW = fft.fftSize(winW);
    while (fftW % 2 !== 0) fftW = fft.fftSize(fftW + 1); // the real FFT wants an even width
    const fftSize = { width: fftW, height: fft.fftSize(winH) };
    const plan = searchPlan({ width: winW, height: winH }, area, fftSize);
    const sparse = (maxWork: number) => (maxWork > 0 ? this.sparseSearch(fft, maxWork, search) : undefined);
    const first = sparse(plan.sparseFirst);
    if (first || !plan.fft) return first;
    const found = this.fftSearch(fft, fftSize, search);
    if (found === 'near-ties') return sparse(plan.sparseAfterFft);
    return found === 'rounding' ? undefined : found;
  }

  /**
   * The exact search of a window by FFT correlation: the rounded errors at every position select
   * the candidates (within 10 + twice the rounding bound of the rounded minimum, so every position
   * within 10 of the true minimum is among them); their exact errors, summed from the pixels,
   * decide as matchTemplate's result would (the good position nearest the recorded one), and give
   * the similarity. Gives up with 'near-ties' when too many positions are near-equal (a flat
   * window), with 'rounding' when the measured rounding exceeds half the assumed bound.
   */
  private fftSearch(
    fft: FftCorrAddon,
    fftSize: { width: number; height: number },
    search: AreaSearch,
  ): Found | 'near-ties' | 'rounding' {
    const { scene, ring, template, area, w } = search;
    const { width, height } = area;
    const pixels = this.scenePixels(scene);
    const stride = scene.cols;
    const x0 = w.left - ring.x;
    const y0 = w.top - ring.y;
    const winW = w.right - w.left;
    const winH = w.bottom - w.top;
    const { width: fftW, height: fftH } = fftSize;
    if (this.sceneSpectra?.scene !== scene) {
      for (const old of this.sceneSpectra?.byWindow.values() ?? []) {
        const spares = this.spareSpectra.get(old.spectrum.length) ?? [];
        if (spares.length < 4) spares.push(old.spectrum);
        this.spareSpectra.set(old.spectrum.length, spares);
      }
      this.sceneSpectra = { scene, byWindow: new Map() };
    }
    const windowKey = `${x0},${y0},${winW},${winH}`;
    let sceneSpectrum = this.sceneSpectra.byWindow.get(windowKey);
    if (!sceneSpectrum) {
      const length = 2 * fftH * (fftW / 2 + 1);
      const spectrum = this.spareSpectra.get(length)?.pop() ?? new Float32Array(length);
      const { shift, norm2 } = fft.sceneSpectrum(pixels, stride, x0, y0, winW, winH, fftW, fftH, spectrum);
      sceneSpectrum = { spectrum, shift, norm2 };
      this.sceneSpectra.byWindow.set(windowKey, sceneSpectrum);
    }
    const templateKey = `${template.id}\0${fftW}x${fftH}`;
    let templateSpectrum = this.templateSpectra.get(templateKey);
    if (templateSpectrum) {
      this.templateSpectra.delete(templateKey); // most recently used last
    } else {
      templateSpectrum = fft.templateSpectrum(template.pixels, width, height, fftW, fftH);
      if (this.templateSpectra.size >= TEMPLATE_SPECTRA_KEPT) {
        this.templateSpectra.delete(this.templateSpectra.keys().next().value as string);
      }
    }
    this.templateSpectra.set(templateKey, templateSpectrum);
    this.fftStats.searches++;
    const bound = roundingBound(sceneSpectrum, templateSpectrum, width * height, fftW, fftH);
    const found = fft.search(
      pixels,
      stride,
      x0,
      y0,
      winW,
      winH,
      fftW,
      fftH,
      sceneSpectrum.spectrum,
      sceneSpectrum.shift,
      template.pixels,
      width,
      height,
      templateSpectrum.spectrum,
      templateSpectrum.shift,
      templateSpectrum.sumShifted,
      templateSpectrum.sumSqShifted,
      10 + 2 * bound,
      FFT_MAX_CANDIDATES,
    );
    if (!found) {
      this.fftStats.tooManyCandidates++;
      return 'near-ties';
    }
    this.fftStats.worstRounding = Math.max(this.fftStats.worstRounding, found.maxError / bound);
    this.fftStats.mostCandidates = Math.max(this.fftStats.mostCandidates, found.positions.length);
    if (found.maxError > bound / 2) {
      this.fftStats.roundingExceeded++;
      log.warn(
        { measured: found.maxError, bound, area: { width, height }, window: { winW, winH } },
        'FFT rounding above the assumed bound: this search falls back to matchTemplate',
      );
      return 'rounding';
    }
    return this.pickCandidate(found, search);
  }

  /**
   * The position tinycv would take from a search's candidates (every position within 10 of the
   * minimum, with its exact error), and its similarity.
   */
  private pickCandidate(
    candidates: { positions: Int32Array; values: Float64Array },
    search: AreaSearch,
  ): Found {
    const { area, w, atRecorded } = search;
    const { width, height } = area;
    const cols = w.right - w.left - width + 1;
    const { positions, values } = candidates;
    const best = pickNearestGood(values, cols, atRecorded, w.x - w.left, w.y - w.top, positions);
    if (best < 0) return { x: 0, y: 0, similarity: 0 };
    // the candidates' errors are exact: the chosen one's is among them
    const sse = values[positions.indexOf(best)] as number;
    const x = w.left + (best % cols);
    const y = w.top + Math.trunc(best / cols);
    return { x, y, similarity: similarityFromMse(sse / (width * height)) };
  }

  /**
   * The exact search of a smaller window by sparse correlation (./native/sparsecorr.cc): every
   * error exact, from the pixels that differ from the window's and the template's most common
   * gray value. Undefined (search with matchTemplate) when too many differ for it to be cheaper.
   */
  private sparseSearch(fft: FftCorrAddon, maxWork: number, search: AreaSearch): Found | undefined {
    const { scene, ring, template, area, w } = search;
    const { width, height } = area;
    const winW = w.right - w.left;
    const winH = w.bottom - w.top;
    const pixels = this.scenePixels(scene);
    const stride = scene.cols;
    const found = fft.sparseSearch(
      pixels,
      stride,
      w.left - ring.x,
      w.top - ring.y,
      winW,
      winH,
      template.pixels,
      width,
      height,
      maxWork,
      SPARSE_SLACK,
    );
    if (!found) {
      this.sparseStats.declined++;
      return undefined;
    }
    this.sparseStats.searches++;
    if (found.from === 'template') this.sparseStats.fromTemplate++;
    return this.pickCandidate(found, search);
  }

  /**
   * A verdict-only search of a large window: exact lower bounds of the error at every position
   * (./prefilter.ts) leave the few positions that could reach the level; only those are compared
   * exactly. Any position within 10 of a passing minimum is among them, so a pass is the same
   * position and similarity a full search gives. With none passing, the area fails with an upper
   * bound of its similarity. Undefined when too many positions survive (search the usual way).
   */
  private verdictSearch(
    scene: Mat,
    ring: Ring,
    templatePixels: Uint8Array,
    area: NeedleArea,
    w: SearchWindow,
    level: number,
    atRecorded: number,
  ): Found | undefined {
    const { width, height } = area;
    const n = width * height;
    // The error at which the similarity equals the level, plus 10 (tinycv's "near the minimum")
    // and a sliver for rounding in the bound's square roots.
    const limit = Math.max(0, 40 - (level - 0.9) * 380) * n + 10 + 1e-6 * n * 255 * 255;
    const pixels = this.scenePixels(scene);
    // the exact squared error at a screen position, from the same pixels (integers: exact)
    const stride = scene.cols;
    const sse = (x: number, y: number) =>
      squaredError(pixels, stride, x - ring.x, y - ring.y, templatePixels, width, height);
    const survivors = survivingPositions(
      { width: scene.cols, height: scene.rows, data: pixels },
      { x: w.left - ring.x, y: w.top - ring.y, width: w.right - w.left, height: w.bottom - w.top },
      { width, height, data: templatePixels },
      limit,
    );
    if (!survivors.positions) return undefined;
    const cols = w.right - w.left - width + 1;
    // Every position fails: the area fails with an upper bound of its similarity, kept below the
    // level (no position reaches it), at the best position seen if any.
    const failing = (x: number, y: number, seen = 0): Found => ({
      x,
      y,
      similarity: Math.min(Math.max(seen, similarityFromMse(survivors.minBound / n)), level - 1e-9),
      bounded: true,
    });
    if (survivors.positions.length === 0) return failing(w.x, w.y);
    const values = new Float64Array(survivors.positions.length);
    survivors.positions.forEach((p, k) => {
      values[k] = sse(w.left + (p % cols), w.top + Math.trunc(p / cols));
    });
    const best = pickNearestGood(values, cols, atRecorded, w.x - w.left, w.y - w.top, survivors.positions);
    // none within 10 of the recorded position's error: a full search keeps the recorded position,
    // whose bound (it did not survive) already fails it
    if (best < 0) return failing(w.x, w.y);
    const x = w.left + (best % cols);
    const y = w.top + Math.trunc(best / cols);
    const similarity = similarityFromMse(sse(x, y) / n);
    if (similarity < level) return failing(x, y, similarity);
    return { x, y, similarity };
  }

  close(): void {
    for (const map of this.distances.values()) map.release();
    this.distances.clear();
    for (const image of this.needles.values()) releaseNeedle(image);
    this.needles.clear();
  }
}
