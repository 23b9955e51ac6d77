// The runner's view of the needle package (worker-image/needles: loader, matcher, PNG codec).
// One seam, so the runner depends on these five functions only.
import type { Frame, Matcher, Needle } from '../../domain/needles/types.js';
import { createMatcher, decodePng, encodePng, loadNeedleDir, selectNeedles } from '../needles/index.js';

export type { Candidate, Frame, Matcher, MatchResult, Needle } from '../../domain/needles/types.js';

export interface NeedleApi {
  loadNeedleDir(dir: string): Promise<Needle[]>;
  selectNeedles(needles: Needle[], tags: string | string[]): Needle[];
  createMatcher(): Matcher;
  decodePng(buffer: Buffer): Frame;
  encodePng(frame: Frame): Buffer;
}

const api: NeedleApi = { loadNeedleDir, selectNeedles, createMatcher, decodePng, encodePng };

/** The needle package. */
export async function needleApi(): Promise<NeedleApi | undefined> {
  return api;
}
