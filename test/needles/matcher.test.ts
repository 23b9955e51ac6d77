// The matcher on real screenshots (the Debian installer and the busybox console, made by
// make-fixtures.ts) and needles cut from them: match, near miss, exclude area, two areas,
// workaround, another resolution, full-screen search, and the PNG codec.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Frame, Matcher, MatchResult, Needle } from '../../domain/needles/types.js';
import {
  createMatcher,
  decodePng,
  encodePng,
  hasWorkaround,
  loadNeedleDir,
  selectNeedles,
} from '../../worker-image/needles/index.js';
import { NEEDLE_DIR, SCREEN_DIR } from './fixture-needles.js';

let needles: Needle[];
let matcher: Matcher;
const screens = new Map<string, Frame>();

function screen(name: string): Frame {
  let frame = screens.get(name);
  if (!frame) {
    frame = decodePng(readFileSync(join(SCREEN_DIR, `${name}.png`)));
    screens.set(name, frame);
  }
  return frame;
}
const byName = (name: string) => {
  const needle = needles.find((n) => n.name === name);
  if (!needle) throw new Error(`no fixture needle ${name}`);
  return needle;
};
const check = (screenName: string, names: string[], fullSearch = false) =>
  matcher.match(screen(screenName), names.map(byName), { fullSearch });

function failed(result: MatchResult) {
  if (result.ok) throw new Error(`expected no match, matched ${result.needle.name}`);
  return result.candidates;
}
function matched(result: MatchResult) {
  if (!result.ok) {
    const best = result.candidates[0];
    throw new Error(`expected a match; best ${best?.needle.name} at ${best?.similarity}`);
  }
  return result;
}

beforeAll(async () => {
  needles = await loadNeedleDir(NEEDLE_DIR);
  matcher = createMatcher();
});
afterAll(async () => {
  await matcher?.close();
});

describe('matching real screens', () => {
  it('matches a needle on the screen it was cut from, at its recorded position', async () => {
    const result = matched(await check('di-language', ['di-language']));
    expect(result.needle.name).toBe('di-language');
    expect(result.similarity).toBe(1);
    expect(result.areas).toEqual([
      { x: 412, y: 16, width: 184, height: 18, similarity: 1, required: 0.96, area: 0 },
    ]);
  });

  it('matches the same dialog on a later screenshot where only the selection moved', async () => {
    expect(matched(await check('di-language-down', ['di-language'])).similarity).toBe(1);
  });

  it('does not match another screen, and reports the best candidate with its similarity', async () => {
    const candidates = failed(await check('di-location', ['di-language', 'di-keyboard']));
    expect(candidates.map((c) => c.needle.name)).toHaveLength(2);
    expect(candidates[0]!.similarity).toBeLessThan(0.96);
    expect(candidates[0]!.error).toBeLessThanOrEqual(candidates[1]!.error!);
    expect(candidates[0]!.areas[0]).toMatchObject({ area: 0, required: 0.96 });
  });

  it('near miss: the highlighted row moved; the candidate is reported with its similarity and position', async () => {
    const [candidate] = failed(await check('di-language-down', ['di-language-english']));
    expect(candidate!.needle.name).toBe('di-language-english');
    expect(candidate!.ok).toBe(false);
    expect(candidate!.similarity).toBeGreaterThanOrEqual(0);
    expect(candidate!.similarity).toBeLessThan(0.96);
    expect(candidate!.areas).toHaveLength(1);
    // The same needle passes on its own screen.
    expect(matched(await check('di-language', ['di-language-english'])).similarity).toBe(1);
  });

  it('exclude area: differences inside it are ignored, the same needle without it fails', async () => {
    const result = await check('di-language-down', ['di-language-list', 'di-language-list-exclude']);
    const ok = matched(result);
    expect(ok.needle.name).toBe('di-language-list-exclude');
    const without = ok.candidates.find((c) => c.needle.name === 'di-language-list')!;
    expect(without.ok).toBe(false);
    expect(without.similarity).toBeLessThan(0.96);
  });

  it('two areas: both must pass; the failing one is named', async () => {
    expect(matched(await check('di-language', ['di-language-two-areas'])).areas).toHaveLength(2);
    const [candidate] = failed(await check('di-language-down', ['di-language-two-areas']));
    expect(candidate!.areas[0]!.similarity).toBe(1);
    expect(candidate!.areas[1]!.similarity).toBeLessThan(0.96);
    expect(candidate!.similarity).toBe(candidate!.areas[1]!.similarity);
  });

  it('workaround: ranks first among equal matches and is flagged for a soft failure', async () => {
    const result = matched(await check('di-language', ['di-language', 'di-language-workaround']));
    expect(result.needle.name).toBe('di-language-workaround');
    expect(hasWorkaround(result.needle)).toBe(true);
    expect(result.needle.properties).toEqual([{ name: 'workaround', value: 'bsc#1234567' }]);
    expect(result.candidates.map((c) => [c.needle.name, c.ok, c.workaround])).toEqual([
      ['di-language', true, false],
    ]);
  });

  it('selects by tags and matches the chosen needles', async () => {
    const chosen = selectNeedles(needles, 'installer-language ENV-DISTRI-debian');
    expect(chosen.map((n) => n.name)).toEqual(['di-language']);
    const result = await matcher.match(
      screen('di-location'),
      selectNeedles(needles, ['installer-location']),
      {
        fullSearch: false,
      },
    );
    expect(matched(result).needle.name).toBe('di-location');
  });
});

describe('another screen resolution', () => {
  it('a 1024×768 needle is searched at its position scaled to an 800×600 screen', async () => {
    const result = matched(await check('di-language-800x600', ['di-language']));
    // The title sits at x 300 on the 800-wide screen: found within the scaled window.
    expect(result.areas[0]).toMatchObject({ x: 300, y: 16, similarity: 1 });
  });

  it('an 800×600 needle on a 1024×768 screen', async () => {
    const result = matched(await check('di-language', ['di-language-800x600']));
    expect(result.areas[0]).toMatchObject({ x: 412, y: 16, similarity: 1 });
  });

  it('an area that does not fit on the smaller screen has similarity 0', async () => {
    const [candidate] = failed(await check('busybox-shell', ['di-keyboard']));
    expect(candidate!.similarity).toBe(0);
  });

  it('the busybox console (720×400) matches its needle; the installer needles do not', async () => {
    const result = matched(await check('busybox-shell', ['busybox-shell', 'di-language']));
    expect(result.needle.name).toBe('busybox-shell');
    expect(result.candidates[0]!.ok).toBe(false);
  });
});

describe('full-screen search', () => {
  /** The location screen with its content moved down by `dy` rows (the top filled with blue). */
  function shifted(dy: number): Frame {
    const base = screen('di-location');
    const row = base.width * base.channels;
    const data = new Uint8Array(base.data.length);
    for (let i = 0; i < dy * base.width; i++) data.set([0, 0, 168], i * base.channels);
    data.set(base.data.subarray(0, (base.height - dy) * row), dy * row);
    return { ...base, data };
  }

  it('finds an area far from its recorded position only when asked for a full search', async () => {
    const frame = shifted(200);
    const needle = byName('di-location');
    const near = await matcher.match(frame, [needle], { fullSearch: false });
    expect(failed(near)[0]!.similarity).toBeLessThan(0.96);
    const full = matched(await matcher.match(frame, [needle], { fullSearch: true }));
    expect(full.areas[0]).toMatchObject({ x: 404, y: 328, similarity: 1 });
  });

  it('reuses a full search on an unchanged screen, and searches again when the screen changed', async () => {
    const frame = shifted(200);
    const needle = byName('di-location');
    const first = matched(await matcher.match(frame, [needle], { fullSearch: true }));
    const again = matched(await matcher.match(frame, [needle], { fullSearch: true }));
    expect(again.areas).toEqual(first.areas);
    // the same frame object, now showing the screen unshifted: found at the recorded place
    frame.data.set(screen('di-location').data);
    const changed = matched(await matcher.match(frame, [needle], { fullSearch: true }));
    expect(changed.areas[0]).toMatchObject({ x: 404, y: 128, similarity: 1 });
    // one pixel changed below the title: a new search, same answer
    frame.data[frame.data.length - 1] = frame.data[frame.data.length - 1]! ^ 0xff;
    expect(matched(await matcher.match(frame, [needle], { fullSearch: true })).areas[0]).toMatchObject({
      y: 128,
    });
  });

  it('within the margin the ordinary check finds it', async () => {
    const result = matched(await matcher.match(shifted(40), [byName('di-location')], { fullSearch: false }));
    expect(result.areas[0]).toMatchObject({ x: 404, y: 168 });
  });
});

describe('verdict-only checks (before the deadline)', () => {
  const screenNames = ['di-language', 'di-language-down', 'di-location', 'di-keyboard', 'busybox-shell'];

  for (const fullSearch of [true, false]) {
    it(`give every ${fullSearch ? 'whole-screen' : 'ordinary'} check the exact search's answer`, async () => {
      for (const name of screenNames) {
        for (const needle of needles) {
          // quick first: an exact result of the same screen would be reused by the quick check
          const quick = await matcher.match(screen(name), [needle], { fullSearch, verdictOnly: true });
          const exact = await matcher.match(screen(name), [needle], { fullSearch });
          expect(quick.ok, `${needle.name} on ${name}`).toBe(exact.ok);
          const exactAreas = exact.ok ? exact.areas : exact.candidates[0]!.areas;
          const quickAreas = quick.ok ? quick.areas : quick.candidates[0]!.areas;
          // The addon's searches (sparse, FFT) are exact and cheaper than the bounds' prefilter,
          // so they answer these too: no bounded similarity. The prefilter, used without the
          // addon, is tested in engine.test.ts.
          expect(quickAreas, `${needle.name} on ${name}`).toEqual(exactAreas);
        }
      }
    });
  }

  it('finds an area far from its recorded position exactly as the full search does', async () => {
    const base = screen('di-location');
    const row = base.width * base.channels;
    const data = new Uint8Array(base.data.length);
    for (let i = 0; i < 200 * base.width; i++) data.set([0, 0, 168], i * base.channels);
    data.set(base.data.subarray(0, (base.height - 200) * row), 200 * row);
    const frame = { ...base, data };
    const quick = matched(
      await matcher.match(frame, [byName('di-location')], { fullSearch: true, verdictOnly: true }),
    );
    expect(quick.areas[0]).toMatchObject({ x: 404, y: 328, similarity: 1 });
    expect(quick.areas[0]!.bounded).toBeUndefined();
  });
});

describe('matcher lifecycle and input', () => {
  it('rejects a malformed frame with a clear error', async () => {
    const bad = { width: 10, height: 10, channels: 3, data: new Uint8Array(5) } as Frame;
    await expect(matcher.match(bad, [byName('di-language')], { fullSearch: false })).rejects.toThrow(
      /invalid frame: data has 5 bytes, 10×10×3 needs 300/,
    );
  });

  it('runs many checks concurrently and answers each one', async () => {
    const results = await Promise.all(
      ['di-language', 'di-location', 'di-language-down', 'di-language'].map((s) =>
        matcher.match(screen(s), [byName('di-language'), byName('di-location')], { fullSearch: false }),
      ),
    );
    expect(results.map((r) => (r.ok ? r.needle.name : null))).toEqual([
      'di-language',
      'di-location',
      'di-language',
      'di-language',
    ]);
  });

  it("matches off the caller's thread: the event loop keeps turning during a whole-screen search", async () => {
    let turns = 0;
    let spinning = true;
    const spin = () => {
      turns++;
      if (spinning) setImmediate(spin);
    };
    setImmediate(spin);
    // an area that is not on this screen, on a screen not searched before: the full match runs
    const base = screen('di-location');
    const data = Uint8Array.from(base.data);
    data[0] = data[0]! ^ 0x55;
    const result = await matcher.match({ ...base, data }, [byName('di-keyboard')], { fullSearch: true });
    spinning = false;
    expect(result.ok).toBe(false);
    // A synchronous match would have returned before the first turn.
    expect(turns).toBeGreaterThan(3);
  });

  it('accepts RGBA frames', async () => {
    const rgb = screen('di-language');
    const rgba = new Uint8Array(rgb.width * rgb.height * 4);
    for (let i = 0, j = 0; i < rgb.data.length; i += 3, j += 4)
      rgba.set([rgb.data[i]!, rgb.data[i + 1]!, rgb.data[i + 2]!, 255], j);
    const result = await matcher.match({ ...rgb, channels: 4, data: rgba }, [byName('di-language')], {
      fullSearch: true,
    });
    expect(matched(result).similarity).toBe(1);
  });

  it('a closed matcher refuses work', async () => {
    const other = createMatcher();
    await other.preload([byName('di-language')]);
    await other.close();
    await expect(
      other.match(screen('di-language'), [byName('di-language')], { fullSearch: false }),
    ).rejects.toThrow(/closed/);
  });
});

describe('PNG codec', () => {
  it('round-trips a real screenshot losslessly', () => {
    const frame = screen('di-location');
    expect(frame).toMatchObject({ width: 1024, height: 768, channels: 3 });
    const again = decodePng(encodePng(frame));
    expect(again.width).toBe(1024);
    expect(Buffer.from(again.data).equals(Buffer.from(frame.data))).toBe(true);
  });

  it('reports data that is not a PNG', () => {
    expect(() => decodePng(Buffer.from('GIF89a…'))).toThrow(/not a PNG/);
    const png = readFileSync(join(SCREEN_DIR, 'di-location.png'));
    expect(() => decodePng(png.subarray(0, 200))).toThrow(/does not decode/);
  });
});
