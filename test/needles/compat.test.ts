// Verdict compatibility with openQA: os-autoinst's own matcher (perl tinycv from Debian's
// os-autoinst) and ours judge the same real screenshots with the same needles, on ordinary checks
// and full searches. Same found needle, same pass/fail for every candidate, every area's
// similarity within 0.01.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Candidate, Frame, Matcher, MatchResult, Needle } from '../../domain/needles/types.js';
import { createMatcher, decodePng, encodePng, loadNeedleDir } from '../../worker-image/needles/index.js';
import { NEEDLE_DIR, SCREEN_DIR } from './fixture-needles.js';
import { type TinycvResult, tinycvMatch } from './tinycv.js';

const SCREENS = [
  'di-language',
  'di-language-down',
  'di-location',
  'di-keyboard',
  'di-language-800x600',
  'busybox-shell',
];

let needles: Needle[];
let matcher: Matcher;
const tmp = mkdtempSync(join(tmpdir(), 'kubeqa-compat-'));
/** Screens as files for perl: the fixtures, plus the location screen moved down and right. */
const screenFiles: Array<{ name: string; path: string }> = SCREENS.map((name) => ({
  name,
  path: join(SCREEN_DIR, `${name}.png`),
}));

function moved(frame: Frame, dx: number, dy: number): Frame {
  const data = new Uint8Array(frame.data.length);
  for (let y = dy; y < frame.height; y++) {
    const from = (y - dy) * frame.width * 3;
    data.set(frame.data.subarray(from, from + (frame.width - dx) * 3), (y * frame.width + dx) * 3);
  }
  return { ...frame, data };
}

beforeAll(async () => {
  needles = await loadNeedleDir(NEEDLE_DIR);
  matcher = createMatcher();
  const location = decodePng(readFileSync(join(SCREEN_DIR, 'di-location.png')));
  for (const [dx, dy] of [
    [3, 5],
    [30, 150],
  ] as const) {
    const path = join(tmp, `di-location-moved-${dx}-${dy}.png`);
    writeFileSync(path, encodePng(moved(location, dx, dy)));
    screenFiles.push({ name: `di-location-moved-${dx}-${dy}`, path });
  }
});
afterAll(async () => {
  await matcher?.close();
  rmSync(tmp, { recursive: true, force: true });
});

function compare(screen: string, ours: MatchResult, theirs: TinycvResult): number {
  const where = `screen ${screen}`;
  expect(ours.ok ? ours.needle.name : null, `${where}: found needle`).toBe(theirs.found);
  const ourCandidates: Candidate[] = ours.ok
    ? [{ needle: ours.needle, areas: ours.areas, ok: true, similarity: ours.similarity }, ...ours.candidates]
    : ours.candidates;
  expect(ourCandidates.length, `${where}: candidates`).toBe(theirs.candidates.length);
  let compared = 0;
  for (const their of theirs.candidates) {
    const our = ourCandidates.find((c) => c.needle.name === their.name);
    expect(our, `${where}: candidate ${their.name}`).toBeDefined();
    expect(our!.ok, `${where}, needle ${their.name}: pass/fail`).toBe(their.ok);
    expect(our!.areas.length).toBe(their.areas.length);
    their.areas.forEach((area, i) => {
      const diff = Math.abs(our!.areas[i]!.similarity - area.similarity);
      expect(
        diff,
        `${where}, needle ${their.name}, area ${i}: ours ${our!.areas[i]!.similarity}, tinycv ${area.similarity}`,
      ).toBeLessThanOrEqual(0.01);
      compared++;
    });
  }
  return compared;
}

/**
 * The needles to compare on a screen. Debian 12's os-autoinst (2023) searches a needle made at
 * another resolution around its unscaled position; os-autoinst since April 2025 (commit c830e290,
 * "tinycv: scale starting search position") scales it to the screen, as kubeqa does. So on ordinary
 * checks only needles of the screen's own size are compared here; the scaled search is covered by
 * matcher.test.ts, and full searches (the whole screen either way) compare all needles.
 */
function comparable(screen: Frame, fullSearch: boolean): Needle[] {
  if (fullSearch) return needles;
  return needles.filter((n) => n.imageWidth === screen.width && n.imageHeight === screen.height);
}

describe("verdicts agree with os-autoinst's tinycv", () => {
  for (const fullSearch of [false, true]) {
    it(`${fullSearch ? 'full-screen search' : 'ordinary check (margin + 2 %)'}: every screen against every needle`, async () => {
      const frames = screenFiles.map((s) => decodePng(readFileSync(s.path)));
      const theirs = tinycvMatch(
        screenFiles.map((s, i) => ({ screen: s.path, needles: comparable(frames[i]!, fullSearch) })),
        fullSearch,
      );
      let areas = 0;
      let passes = 0;
      for (const [i, s] of screenFiles.entries()) {
        const ours = await matcher.match(frames[i]!, comparable(frames[i]!, fullSearch), { fullSearch });
        areas += compare(s.name, ours, theirs[i]!);
        if (ours.ok) passes++;
      }
      // Both verdicts occur: most screens match some needle, and some needles fail on each.
      expect(passes).toBeGreaterThanOrEqual(6);
      expect(areas).toBeGreaterThanOrEqual(fullSearch ? screenFiles.length * needles.length : 60);
    });
  }

  it('each needle alone on each screen (the verdict of every single assert_screen)', async () => {
    const checks = screenFiles.flatMap((s) => {
      const frame = decodePng(readFileSync(s.path));
      return comparable(frame, false).map((n) => ({ screen: s.path, needles: [n], name: s.name }));
    });
    const theirs = tinycvMatch(checks, false);
    const verdicts = { pass: 0, fail: 0 };
    for (const [i, check] of checks.entries()) {
      const ours = await matcher.match(decodePng(readFileSync(check.screen)), check.needles, {
        fullSearch: false,
      });
      compare(`${check.name} / ${check.needles[0]!.name}`, ours, theirs[i]!);
      verdicts[ours.ok ? 'pass' : 'fail']++;
    }
    expect(verdicts.pass).toBeGreaterThan(5);
    expect(verdicts.fail).toBeGreaterThan(5);
  });
});
