// The needles cut from the fixture screens (make-fixtures.ts writes them to NEEDLE_DIR). Areas
// are in the pixels of the screen each is cut from; the comments say what they cover.
import { join } from 'node:path';
import type { Frame } from '../../domain/needles/types.js';

export const FIXTURE_DIR = join(import.meta.dirname, '..', 'fixtures', 'needles');
export const SCREEN_DIR = join(FIXTURE_DIR, 'screens');
export const NEEDLE_DIR = join(FIXTURE_DIR, 'needles');

/** `base` with its content moved `dx` px right and `dy` px down (the uncovered edge left black). */
export function movedScreen(base: Frame, dx: number, dy: number): Frame {
  const row = base.width * base.channels;
  const shift = dx * base.channels;
  const data = new Uint8Array(base.data.length);
  for (let y = dy; y < base.height; y++) {
    data.set(base.data.subarray((y - dy) * row, (y - dy) * row + row - shift), y * row + shift);
  }
  return { ...base, data };
}

export interface FixtureNeedle {
  name: string;
  /** The screen (SCREEN_DIR/<screen>.png) the needle is cut from. */
  screen: string;
  subdir?: string;
  json: Record<string, unknown>;
}

/** "[!!] Select a language" in the installer's title bar (1024×768). */
const LANGUAGE_TITLE = { xpos: 412, ypos: 16, width: 184, height: 18 };
/** The highlighted "English - English" row of the language list. */
const ENGLISH_ROW = { xpos: 312, ypos: 368, width: 360, height: 16 };
/** The language list, C … Kurdish, without the scroll bar. */
const LANGUAGE_LIST = { xpos: 312, ypos: 128, width: 360, height: 544 };
/** The rows English, Esperanto, Estonian (the highlight moves among them). */
const HIGHLIGHT_ROWS = { xpos: 312, ypos: 366, width: 360, height: 52 };

export const FIXTURE_NEEDLES: FixtureNeedle[] = [
  {
    name: 'di-language',
    screen: 'di-language',
    json: { tags: ['installer-language', 'ENV-DISTRI-debian'], area: [{ ...LANGUAGE_TITLE, type: 'match' }] },
  },
  {
    // Same area, marked as a known problem: a match is a soft failure, and it ranks first.
    name: 'di-language-workaround',
    screen: 'di-language',
    json: {
      tags: ['installer-language'],
      area: [{ ...LANGUAGE_TITLE, type: 'match' }],
      properties: [{ name: 'workaround', value: 'bsc#1234567' }],
    },
  },
  {
    name: 'di-language-english',
    screen: 'di-language',
    json: {
      tags: ['installer-language-english'],
      area: [{ ...ENGLISH_ROW, type: 'match', click_point: 'center' }],
    },
  },
  {
    // Two areas: the title (the same on both language screens) and the highlighted row.
    name: 'di-language-two-areas',
    screen: 'di-language',
    json: {
      tags: ['installer-language-two-areas'],
      area: [
        { ...LANGUAGE_TITLE, type: 'match' },
        { ...ENGLISH_ROW, type: 'match' },
      ],
    },
  },
  {
    name: 'di-language-list',
    screen: 'di-language',
    json: { tags: ['installer-language-list'], area: [{ ...LANGUAGE_LIST, type: 'match' }] },
  },
  {
    // The same list with the rows the highlight moves among excluded.
    name: 'di-language-list-exclude',
    screen: 'di-language',
    json: {
      tags: ['installer-language-list'],
      area: [
        { ...LANGUAGE_LIST, type: 'match' },
        { ...HIGHLIGHT_ROWS, type: 'exclude' },
      ],
    },
  },
  {
    name: 'di-location',
    screen: 'di-location',
    // "[!!] Select your location" and "Country, territory or area:".
    json: {
      tags: ['installer-location'],
      area: [
        { xpos: 404, ypos: 128, width: 214, height: 18, type: 'match' },
        { xpos: 30, ypos: 240, width: 220, height: 18, type: 'match', match: 90, margin: 20 },
      ],
    },
  },
  {
    name: 'di-keyboard',
    screen: 'di-keyboard',
    // "[!!] Configure the keyboard", and the key help line at the bottom of the screen (which
    // does not fit on a smaller screen).
    json: {
      tags: ['installer-keyboard'],
      area: [
        { xpos: 396, ypos: 16, width: 226, height: 18, type: 'match' },
        { xpos: 0, ypos: 752, width: 440, height: 16, type: 'match' },
      ],
    },
  },
  {
    // Cut at 800×600: the title sits 112 px further left than at 1024×768.
    name: 'di-language-800x600',
    screen: 'di-language-800x600',
    json: {
      tags: ['installer-language-800x600'],
      area: [{ xpos: 300, ypos: 16, width: 184, height: 18, type: 'match' }],
    },
  },
  {
    // The VGA text console (720×400): the typed command and its output.
    name: 'busybox-shell',
    screen: 'busybox-shell',
    subdir: 'busybox',
    json: { tags: ['busybox-shell'], area: [{ xpos: 0, ypos: 206, width: 392, height: 50, type: 'match' }] },
  },
];
