// Needles: openQA's needle format and matching semantics (docs/needles.md). The runner's API.
export type {
  AreaMatch,
  Candidate,
  Frame,
  Matcher,
  MatchOptions,
  MatchResult,
  Needle,
  NeedleArea,
  NeedleProperty,
} from '../../domain/needles/types.js';
export { loadNeedle, loadNeedleDir } from './load.js';
export { createMatcher } from './matcher.js';
export { DEFAULT_MARGIN, DEFAULT_MATCH_LEVEL, parseNeedleJson } from './parse.js';
export { decodePng, encodePng } from './png.js';
export { hasWorkaround } from './scoring.js';
export { selectNeedles } from './select.js';
