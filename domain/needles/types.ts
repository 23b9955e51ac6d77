// The needle format (openQA's, unchanged: <name>.json + <name>.png) and the contract between the
// test runner (worker-image/runner) and the matcher (worker-image/needles). Types only.

/** One rectangle of a needle, in the needle PNG's pixel coordinates. */
export interface NeedleArea {
  xpos: number;
  ypos: number;
  width: number;
  height: number;
  /** match (default): must be found; exclude: ignored when comparing; ocr: kept, not compared. */
  type: 'match' | 'exclude' | 'ocr';
  /** Required similarity in percent (default 96). */
  match: number;
  /** How far (px) from the recorded position the area may be found (default 50). */
  margin: number;
  /** Where assert_and_click clicks, relative to the area. */
  click_point?: { xpos: number; ypos: number } | 'center';
}

export interface NeedleProperty {
  name: string;
  value?: string;
}

/** A loaded needle: its JSON with defaults applied, and where its files are. */
export interface Needle {
  /** File name without extension, unique within a needle directory (e.g. "boot-menu-20240101"). */
  name: string;
  tags: string[];
  areas: NeedleArea[];
  /** e.g. workaround: a match counts as a soft failure. */
  properties: NeedleProperty[];
  jsonPath: string;
  pngPath: string;
  /** Size of the needle PNG in pixels (read from its header when loading). */
  imageWidth?: number;
  imageHeight?: number;
}

/** A screen as the runner captures it: packed 8-bit RGB(A) rows. */
export interface Frame {
  width: number;
  height: number;
  /** 3 (RGB) or 4 (RGBA/RGBX) bytes per pixel. */
  channels: 3 | 4;
  data: Uint8Array;
}

/** Where one needle area was found (or best approached) on the screen. */
export interface AreaMatch {
  /** Position on the screen. */
  x: number;
  y: number;
  width: number;
  height: number;
  /** 0..1 */
  similarity: number;
  /** The needle area's required similarity (0..1). */
  required: number;
  /** Index into needle.areas. */
  area: number;
  /**
   * A verdict-only check proved this area fails without searching for its best position:
   * `similarity` is an upper bound (below `required`) and x/y are not a real match.
   */
  bounded?: true;
}

export interface Candidate {
  needle: Needle;
  /** The lowest area similarity: what decides the needle's verdict (0..1). */
  similarity: number;
  areas: AreaMatch[];
  ok: boolean;
  /** openQA's ranking error: mean of (1 - similarity)² over the match areas (0 = perfect). */
  error?: number;
  /** The needle has the `workaround` property: a match is a soft failure. */
  workaround?: boolean;
}

export type MatchResult =
  | { ok: true; needle: Needle; areas: AreaMatch[]; similarity: number; candidates: Candidate[] }
  | { ok: false; candidates: Candidate[] };

export interface MatchOptions {
  /** Search the whole screen instead of area ± margin (every 5th check and at the deadline). */
  fullSearch: boolean;
  /**
   * Only the verdict matters (checks before the deadline): a failing area of a large search may
   * come back with an upper bound of its similarity instead of its exact best position, which
   * makes whole-screen checks for a screen that is not there several times cheaper. Passing
   * areas are exact either way. The check at the deadline, whose candidates are reported, must
   * not set this.
   */
  verdictOnly?: boolean;
}

/** The needle matcher (worker-image/needles): matching runs off the caller's event loop. */
export interface Matcher {
  /** Ranks `candidates` on `frame`; resolves with the best match, or with every failing candidate. */
  match(frame: Frame, candidates: Needle[], options: MatchOptions): Promise<MatchResult>;
  /** Decodes needle images ahead of the first check (optional; match() does it on demand). */
  preload(needles: Needle[]): Promise<void>;
  /** Stops the worker; pending matches reject. */
  close(): Promise<void>;
}
