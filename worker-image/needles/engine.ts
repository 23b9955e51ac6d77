// The OpenCV part of needle matching (synchronous; it runs inside the matcher's worker thread).
// Semantics follow os-autoinst's tinycv: the screen and the needle image are converted to
// grayscale and blurred with a 3×3 Gaussian; exclude areas are painted green on both (at the
// needle's recorded position) before that; each match area is searched by squared-difference
// template matching within its window, the good position nearest the recorded one is taken, and
// its mean squared error becomes the similarity.
//
// Speed: the screen is converted and blurred once per check (only the rows the windows need),
// shared by every candidate without exclude areas; needle images are decoded, converted and
// blurred once and cached; an area found unchanged at its recorded position needs no search.
import { readFileSync } from 'node:fs';
import type { NeedleArea } from '../../domain/needles/types.js';
import { type CV, loadOpenCV, type Mat, withMats } from './opencv.js';
import { pickNearestGood, type SearchWindow, searchWindow, similarityFromMse } from './scoring.js';

/** Rows `top … top + rows` of a screen, full width, packed RGB(A). */
export interface ScreenBand {
  width: number;
  height: number;
  channels: 3 | 4;
  top: number;
  rows: number;
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
}

interface NeedleImage {
  /** Grayscale, exclude areas painted, blurred. */
  gray: Mat;
  width: number;
  height: number;
  lastUse: number;
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

export class MatchEngine {
  private readonly cv: CV = loadOpenCV();
  private readonly needles = new Map<string, NeedleImage>();
  private tick = 0;

  constructor(private readonly cacheLimit = 300) {}

  /** Decodes, paints and blurs a needle image once; later checks reuse it. */
  private needleImage(spec: NeedleSpec): NeedleImage {
    const key = `${spec.pngPath}\0${JSON.stringify(excludesOf(spec.areas))}`;
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
      paintExcludes(cv, gray, excludesOf(spec.areas), 0, gray.rows, gray.cols);
      return { gray: gray.gaussianBlur(new cv.Size(3, 3), 0), width: color.cols, height: color.rows };
    });
    this.needles.set(key, { ...image, lastUse: ++this.tick });
    if (this.needles.size > this.cacheLimit) {
      const oldest = [...this.needles.entries()].sort((a, b) => a[1].lastUse - b[1].lastUse)[0]!;
      oldest[1].gray.release();
      this.needles.delete(oldest[0]);
    }
    return { ...image, lastUse: this.tick };
  }

  /** Decodes the needle images ahead of the first check (optional). */
  preload(specs: NeedleSpec[]): void {
    for (const spec of specs) this.needleImage(spec);
  }

  /** Similarities of every match area of every needle on one screen. */
  match(band: ScreenBand, specs: NeedleSpec[], margins: (area: NeedleArea) => number): AreaResult[][] {
    const { cv } = this;
    return withMats((keep) => {
      const type = band.channels === 4 ? cv.CV_8UC4 : cv.CV_8UC3;
      const buffer = Buffer.from(
        band.data.buffer,
        band.data.byteOffset,
        band.rows * band.width * band.channels,
      );
      const color = keep(new cv.Mat(buffer, band.rows, band.width, type));
      const grayRaw = keep(color.cvtColor(band.channels === 4 ? cv.COLOR_RGBA2GRAY : cv.COLOR_RGB2GRAY));
      let shared: Mat | undefined;
      const screen = { width: band.width, height: band.height };

      return specs.map((spec) => {
        const needle = this.needleImage(spec);
        const excludes = excludesOf(spec.areas);
        let scene: Mat;
        if (excludes.length === 0) {
          shared ??= keep(grayRaw.gaussianBlur(new cv.Size(3, 3), 0));
          scene = shared;
        } else {
          const painted = keep(grayRaw.copy());
          paintExcludes(cv, painted, excludes, band.top, band.height, band.width);
          scene = keep(painted.gaussianBlur(new cv.Size(3, 3), 0));
        }
        const results: AreaResult[] = [];
        spec.areas.forEach((area, index) => {
          if (area.type !== 'match') return;
          const window = searchWindow(area, margins(area), needle, screen);
          results.push(
            window
              ? { area: index, ...this.searchArea(scene, band.top, needle.gray, area, window) }
              : { area: index, x: 0, y: 0, similarity: 0 },
          );
        });
        return results;
      });
    });
  }

  private searchArea(
    scene: Mat,
    sceneTop: number,
    needleGray: Mat,
    area: NeedleArea,
    w: SearchWindow,
  ): { x: number; y: number; similarity: number } {
    const { cv } = this;
    const { width, height } = area;
    return withMats((keep) => {
      const template = keep(needleGray.getRegion(new cv.Rect(area.xpos, area.ypos, width, height)));
      const sse = (x: number, y: number) =>
        withMats((keep2) =>
          keep2(scene.getRegion(new cv.Rect(x, y - sceneTop, width, height))).norm(template, cv.NORM_L2SQR),
        );
      const recordedInside = w.x + width <= w.right && w.y + height <= w.bottom;
      // Unchanged at the recorded position: os-autoinst stops there too (error 0 → similarity 1).
      if (recordedInside && sse(w.x, w.y) === 0) return { x: w.x, y: w.y, similarity: 1 };

      const region = keep(
        scene.getRegion(new cv.Rect(w.left, w.top - sceneTop, w.right - w.left, w.bottom - w.top)),
      );
      const result = keep(region.matchTemplate(template, cv.TM_SQDIFF));
      const raw = result.getData();
      const values = new Float32Array(raw.buffer.slice(raw.byteOffset, raw.byteOffset + raw.length));
      const cols = result.cols;
      const centerCol = w.x - w.left;
      const centerRow = w.y - w.top;
      const atRecorded = recordedInside ? values[centerRow * cols + centerCol]! : Number.POSITIVE_INFINITY;
      if (atRecorded === 0) return { x: w.x, y: w.y, similarity: 1 };
      const best = pickNearestGood(values, cols, atRecorded, centerCol, centerRow);
      if (best < 0) return { x: 0, y: 0, similarity: 0 };
      const x = w.left + (best % cols);
      const y = w.top + Math.trunc(best / cols);
      return { x, y, similarity: similarityFromMse(sse(x, y) / (width * height)) };
    });
  }

  close(): void {
    for (const image of this.needles.values()) image.gray.release();
    this.needles.clear();
  }
}
