// The runner's view of the needle package (worker-image/needles: loader, matcher, PNG codec).
import type { Candidate, Frame, MatchOptions, MatchResult, Needle } from '../../domain/needles/types.js';

export interface Matcher {
  match(frame: Frame, candidates: Needle[], options: MatchOptions): Promise<MatchResult>;
  close(): Promise<void> | void;
}

export interface NeedleApi {
  loadNeedleDir(dir: string): Promise<Needle[]>;
  selectNeedles(needles: Needle[], tags: string | string[]): Needle[];
  createMatcher(): Matcher;
  decodePng(buffer: Buffer): Frame;
  encodePng(frame: Frame): Buffer;
}

export type { Candidate, Frame, MatchResult, Needle };

let cached: Promise<NeedleApi | undefined> | undefined;

/** The needle package, or undefined where this build has none. */
export function needleApi(): Promise<NeedleApi | undefined> {
  const specifier = '../needles/index.js';
  cached ??= import(specifier).then(
    (m) => m as NeedleApi,
    () => undefined,
  );
  return cached;
}
