// The needle format: openQA's JSON + PNG loaded unchanged, every malformed needle reported with
// its file and field, and openQA's tag selection.
import { copyFileSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { isKubeqaError } from '../../domain/errors.js';
import type { Needle } from '../../domain/needles/types.js';
import { loadNeedleDir, selectNeedles } from '../../worker-image/needles/index.js';
import { NEEDLE_DIR, SCREEN_DIR } from './fixture-needles.js';

const SCREEN = join(SCREEN_DIR, 'di-language.png'); // 1024×768
const tmp = mkdtempSync(join(tmpdir(), 'kubeqa-needle-format-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

let n = 0;
/** A needle directory with one needle <name>.json (+ the PNG unless png is false). */
function needleDir(json: unknown, options: { png?: boolean; raw?: string; name?: string } = {}): string {
  const dir = join(tmp, `d${n++}`);
  mkdirSync(dir);
  const name = options.name ?? 'sample';
  writeFileSync(join(dir, `${name}.json`), options.raw ?? JSON.stringify(json));
  if (options.png !== false) copyFileSync(SCREEN, join(dir, `${name}.png`));
  return dir;
}

const area = { xpos: 10, ypos: 20, width: 100, height: 30 };

async function invalid(dir: string): Promise<string> {
  try {
    await loadNeedleDir(dir);
  } catch (error) {
    if (!isKubeqaError(error)) throw error;
    expect(error.code).toBe('KQ_ERR_INVALID_NEEDLE');
    expect(error.message).toContain(join(dir, 'sample.json'));
    return error.message;
  }
  throw new Error(`loading ${dir} did not fail`);
}

describe('loadNeedleDir', () => {
  it('loads the fixture needles with openQA defaults, recursing into subdirectories', async () => {
    const needles = await loadNeedleDir(NEEDLE_DIR);
    expect(needles.length).toBeGreaterThanOrEqual(6);
    const language = needles.find((x) => x.name === 'di-language')!;
    expect(language.tags).toContain('installer-language');
    expect(language.imageWidth).toBe(1024);
    expect(language.imageHeight).toBe(768);
    expect(language.pngPath).toBe(join(NEEDLE_DIR, 'di-language.png'));
    expect(needles.some((x) => x.jsonPath.startsWith(join(NEEDLE_DIR, 'busybox')))).toBe(true);
  });

  it('applies the defaults: type match, match 96, margin 50; 0 means default as in openQA', async () => {
    const dir = needleDir({
      tags: ['t'],
      area: [area, { ...area, match: 0, margin: 0 }],
      properties: ['workaround'],
    });
    const [needle] = await loadNeedleDir(dir);
    expect(needle!.areas[0]).toEqual({ ...area, type: 'match', match: 96, margin: 50 });
    expect(needle!.areas[1]).toEqual({ ...area, type: 'match', match: 96, margin: 50 });
    expect(needle!.properties).toEqual([{ name: 'workaround' }]);
  });

  it('keeps match level, margin, click_point, exclude/ocr areas and {name, value} properties', async () => {
    const dir = needleDir({
      tags: ['a', 'b'],
      area: [
        { ...area, type: 'match', match: 90, margin: 20, click_point: { xpos: 5, ypos: 6 } },
        { ...area, type: 'exclude' },
        { ...area, type: 'ocr' },
      ],
      properties: [{ name: 'workaround', value: 'bsc#1234' }],
    });
    const [needle] = await loadNeedleDir(dir);
    expect(needle!.areas.map((a) => a.type)).toEqual(['match', 'exclude', 'ocr']);
    expect(needle!.areas[0]).toMatchObject({ match: 90, margin: 20, click_point: { xpos: 5, ypos: 6 } });
    expect(needle!.properties).toEqual([{ name: 'workaround', value: 'bsc#1234' }]);
  });

  it('follows symbolic links to subdirectories and skips hidden ones', async () => {
    const dir = needleDir({ tags: ['t'], area: [area] });
    const other = needleDir({ tags: ['u'], area: [area] }, { name: 'linked' });
    symlinkSync(other, join(dir, 'sub'));
    mkdirSync(join(dir, '.git'));
    writeFileSync(join(dir, '.git', 'broken.json'), '{');
    const names = (await loadNeedleDir(dir)).map((x) => x.name).sort();
    expect(names).toEqual(['linked', 'sample']);
  });

  it('reports JSON that does not parse', async () => {
    expect(await invalid(needleDir(null, { raw: '{"tags": ["a"], "area": [' }))).toMatch(
      /JSON: does not parse/,
    );
  });

  it('reports a missing PNG', async () => {
    expect(await invalid(needleDir({ tags: ['t'], area: [area] }, { png: false }))).toMatch(
      /png: sample\.png is missing/,
    );
  });

  it('reports a PNG that is not a PNG', async () => {
    const dir = needleDir({ tags: ['t'], area: [area] }, { png: false });
    writeFileSync(join(dir, 'sample.png'), 'GIF89a not a png at all');
    expect(await invalid(dir)).toMatch(/png: sample\.png is not a PNG image/);
  });

  it('reports an area outside the image, naming the area and the field', async () => {
    const message = await invalid(
      needleDir({ tags: ['t'], area: [area, { ...area, xpos: 1000, width: 30 }] }),
    );
    expect(message).toMatch(/area\[1\]\.width: xpos 1000 \+ width 30 = 1030 is outside the 1024×768 image/);
    const tall = await invalid(needleDir({ tags: ['t'], area: [{ ...area, ypos: 760 }] }));
    expect(tall).toMatch(/area\[0\]\.height/);
  });

  it('reports wrong types with the field', async () => {
    expect(await invalid(needleDir({ tags: 'boot', area: [area] }))).toMatch(/tags: must be an array/);
    expect(await invalid(needleDir({ tags: ['ok', 3], area: [area] }))).toMatch(
      /tags\[1\]: must be a non-empty string/,
    );
    expect(await invalid(needleDir({ tags: ['t'], area: [{ ...area, xpos: '10' }] }))).toMatch(
      /area\[0\]\.xpos: must be a whole number, found the string "10"/,
    );
    expect(await invalid(needleDir({ tags: ['t'], area: [{ ...area, width: 0 }] }))).toMatch(
      /area\[0\]\.width: must be at least 1/,
    );
    expect(await invalid(needleDir({ tags: ['t'], area: [{ ...area, match: 'high' }] }))).toMatch(
      /area\[0\]\.match/,
    );
    expect(await invalid(needleDir({ tags: ['t'], area: [{ ...area, margin: -5 }] }))).toMatch(
      /area\[0\]\.margin/,
    );
    expect(await invalid(needleDir({ tags: ['t'], area: [{ ...area, click_point: 'left' }] }))).toMatch(
      /area\[0\]\.click_point/,
    );
    expect(await invalid(needleDir({ tags: ['t'], area: [area], properties: 'workaround' }))).toMatch(
      /properties: must be an array/,
    );
    expect(await invalid(needleDir({ tags: ['t'], area: { ...area } }))).toMatch(/area: must be an array/);
    expect(await invalid(needleDir({ tags: ['t'], area: [{ xpos: 1, ypos: 1, width: 5 }] }))).toMatch(
      /area\[0\]\.height: is missing/,
    );
  });

  it('reports an unknown area type', async () => {
    expect(await invalid(needleDir({ tags: ['t'], area: [{ ...area, type: 'matches' }] }))).toMatch(
      /area\[0\]\.type: must be one of match, exclude, ocr, found the string "matches"/,
    );
  });

  it('reports a needle without tags or without a match area', async () => {
    expect(await invalid(needleDir({ area: [area] }))).toMatch(/tags: is missing/);
    expect(await invalid(needleDir({ tags: [], area: [area] }))).toMatch(/tags: is empty/);
    expect(await invalid(needleDir({ tags: ['t'], area: [{ ...area, type: 'exclude' }] }))).toMatch(
      /area: has no match area/,
    );
    // openQA accepts it and then fails when matching; here it would match any screen
    expect(await invalid(needleDir({ tags: ['t'], area: [{ ...area, type: 'ocr' }] }))).toMatch(
      /area: has no match area .*ocr areas are not compared/,
    );
  });

  it('reports two needles of the same name in different subdirectories', async () => {
    const dir = needleDir({ tags: ['t'], area: [area] });
    mkdirSync(join(dir, 'sub'));
    writeFileSync(join(dir, 'sub', 'sample.json'), JSON.stringify({ tags: ['t'], area: [area] }));
    copyFileSync(SCREEN, join(dir, 'sub', 'sample.png'));
    await expect(loadNeedleDir(dir)).rejects.toThrow(/name: "sample" is also the name of/);
  });

  it('reports a directory that does not exist', async () => {
    await expect(loadNeedleDir(join(tmp, 'nope'))).rejects.toMatchObject({ code: 'KQ_ERR_NOT_FOUND' });
  });
});

describe('selectNeedles (openQA tag semantics)', () => {
  const needle = (name: string, tags: string[]): Needle => ({
    name,
    tags,
    areas: [],
    properties: [],
    jsonPath: `${name}.json`,
    pngPath: `${name}.png`,
  });
  const all = [
    needle('a', ['installer', 'language']),
    needle('b', ['installer', 'location']),
    needle('c', ['language']),
    needle('d', ['shell']),
  ];
  const names = (list: Needle[]) => list.map((x) => x.name);

  it('a single tag selects every needle carrying it', () => {
    expect(names(selectNeedles(all, 'language'))).toEqual(['a', 'c']);
  });
  it('several space-separated tags need all of them on one needle', () => {
    expect(names(selectNeedles(all, 'installer language'))).toEqual(['a']);
    expect(names(selectNeedles(all, 'language  installer'))).toEqual(['a']);
    expect(names(selectNeedles(all, 'shell language'))).toEqual([]);
  });
  it('an array means any of its elements, each possibly a multi-tag string', () => {
    expect(names(selectNeedles(all, ['location', 'shell']))).toEqual(['b', 'd']);
    expect(names(selectNeedles(all, ['installer language', 'shell']))).toEqual(['a', 'd']);
    expect(names(selectNeedles(all, ['language', 'installer']))).toEqual(['a', 'b', 'c']);
  });
  it('rejects empty tags', () => {
    expect(() => selectNeedles(all, '  ')).toThrow(/needle tags must be/);
    expect(() => selectNeedles(all, [])).toThrow(/needle tags must be/);
  });
});
