// Validation of one needle's JSON (openQA's format, unchanged). Pure: the caller reads the files.
// Every problem names the file and the field, so a person can fix the needle instead of wondering
// why it never matches. openQA's defaults apply: type match, match level 96, margin 50 (and, as in
// openQA, a `match` or `margin` of 0 means "use the default").
import { KubeqaError } from '../../domain/errors.js';
import type { NeedleArea, NeedleProperty } from '../../domain/needles/types.js';

export const DEFAULT_MATCH_LEVEL = 96;
export const DEFAULT_MARGIN = 50;
const AREA_TYPES = ['match', 'exclude', 'ocr'] as const;

export interface ParsedNeedle {
  tags: string[];
  areas: NeedleArea[];
  properties: NeedleProperty[];
}

export function invalidNeedle(file: string, field: string, problem: string, cause?: unknown): KubeqaError {
  return new KubeqaError(
    'KQ_ERR_INVALID_NEEDLE',
    `invalid needle ${file}: ${field}: ${problem}`,
    "fix or remove the needle; the format is openQA's (docs/needles.md)",
    cause === undefined ? undefined : { cause },
  );
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function describe(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  if (typeof value === 'string') return `the string ${JSON.stringify(value)}`;
  return `${typeof value} ${JSON.stringify(value)}`;
}

function integer(file: string, field: string, value: unknown, min: number): number {
  if (typeof value !== 'number' || !Number.isInteger(value)) {
    throw invalidNeedle(file, field, `must be a whole number, found ${describe(value)}`);
  }
  if (value < min) throw invalidNeedle(file, field, `must be at least ${min}, found ${value}`);
  return value;
}

function parseClickPoint(file: string, field: string, value: unknown): NeedleArea['click_point'] {
  if (value === 'center') return 'center';
  if (!isObject(value)) {
    throw invalidNeedle(file, field, `must be "center" or {"xpos": …, "ypos": …}, found ${describe(value)}`);
  }
  for (const key of ['xpos', 'ypos'] as const) {
    if (typeof value[key] !== 'number' || !Number.isFinite(value[key])) {
      throw invalidNeedle(file, `${field}.${key}`, `must be a number, found ${describe(value[key])}`);
    }
  }
  return { xpos: value.xpos as number, ypos: value.ypos as number };
}

function parseArea(file: string, index: number, raw: unknown): NeedleArea {
  const at = `area[${index}]`;
  if (!isObject(raw)) throw invalidNeedle(file, at, `must be an object, found ${describe(raw)}`);
  const type = raw.type ?? 'match';
  if (typeof type !== 'string' || !(AREA_TYPES as readonly string[]).includes(type)) {
    throw invalidNeedle(file, `${at}.type`, `must be one of match, exclude, ocr, found ${describe(type)}`);
  }
  for (const key of ['xpos', 'ypos', 'width', 'height'] as const) {
    if (raw[key] === undefined) throw invalidNeedle(file, `${at}.${key}`, 'is missing');
  }
  const area: NeedleArea = {
    xpos: integer(file, `${at}.xpos`, raw.xpos, 0),
    ypos: integer(file, `${at}.ypos`, raw.ypos, 0),
    width: integer(file, `${at}.width`, raw.width, 1),
    height: integer(file, `${at}.height`, raw.height, 1),
    type: type as NeedleArea['type'],
    match: DEFAULT_MATCH_LEVEL,
    margin: DEFAULT_MARGIN,
  };
  if (raw.match !== undefined) {
    if (typeof raw.match !== 'number' || !Number.isFinite(raw.match) || raw.match < 0 || raw.match > 100) {
      throw invalidNeedle(
        file,
        `${at}.match`,
        `must be a number from 0 to 100, found ${describe(raw.match)}`,
      );
    }
    if (raw.match > 0) area.match = raw.match;
  }
  if (raw.margin !== undefined) {
    const margin = integer(file, `${at}.margin`, raw.margin, 0);
    if (margin > 0) area.margin = margin;
  }
  if (raw.click_point !== undefined)
    area.click_point = parseClickPoint(file, `${at}.click_point`, raw.click_point);
  return area;
}

function parseProperties(file: string, raw: unknown): NeedleProperty[] {
  if (raw === undefined) return [];
  if (!Array.isArray(raw))
    throw invalidNeedle(file, 'properties', `must be an array, found ${describe(raw)}`);
  return raw.map((item, i) => {
    // openQA writes properties either as plain names or as {name, value}.
    if (typeof item === 'string' && item !== '') return { name: item };
    if (isObject(item) && typeof item.name === 'string' && item.name !== '') {
      if (item.value !== undefined && typeof item.value !== 'string') {
        throw invalidNeedle(
          file,
          `properties[${i}].value`,
          `must be a string, found ${describe(item.value)}`,
        );
      }
      return item.value === undefined ? { name: item.name } : { name: item.name, value: item.value };
    }
    throw invalidNeedle(file, `properties[${i}]`, `must be a name or {"name": …}, found ${describe(item)}`);
  });
}

/** Validates a needle's JSON text; `file` is only used in error messages. */
export function parseNeedleJson(file: string, text: string): ParsedNeedle {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (error) {
    throw invalidNeedle(file, 'JSON', `does not parse: ${(error as Error).message}`, error);
  }
  if (!isObject(json)) throw invalidNeedle(file, 'JSON', `must be an object, found ${describe(json)}`);

  if (json.tags === undefined)
    throw invalidNeedle(file, 'tags', 'is missing (a needle needs at least one tag)');
  if (!Array.isArray(json.tags))
    throw invalidNeedle(file, 'tags', `must be an array, found ${describe(json.tags)}`);
  const tags = json.tags.map((tag, i) => {
    if (typeof tag !== 'string' || tag === '' || /\s/.test(tag)) {
      throw invalidNeedle(
        file,
        `tags[${i}]`,
        `must be a non-empty string without spaces, found ${describe(tag)}`,
      );
    }
    return tag;
  });
  if (tags.length === 0) throw invalidNeedle(file, 'tags', 'is empty (a needle needs at least one tag)');

  if (json.area === undefined) throw invalidNeedle(file, 'area', 'is missing');
  if (!Array.isArray(json.area))
    throw invalidNeedle(file, 'area', `must be an array, found ${describe(json.area)}`);
  const areas = json.area.map((raw, i) => parseArea(file, i, raw));
  // openQA accepts a needle whose only areas are ocr ones, then fails when matching it
  // (its error is a mean over no areas); such a needle would match any screen here.
  if (!areas.some((a) => a.type === 'match')) {
    throw invalidNeedle(
      file,
      'area',
      'has no match area (at least one area of type match is needed; ocr areas are not compared)',
    );
  }
  const clickPoints = areas.filter((a) => a.click_point !== undefined).length;
  if (clickPoints > 1) {
    throw invalidNeedle(
      file,
      'area',
      `has ${clickPoints} areas with a click_point; at most one may have one`,
    );
  }
  return { tags, areas, properties: parseProperties(file, json.properties) };
}

/** Every area must lie inside the needle image. */
export function checkAreasInside(file: string, areas: NeedleArea[], width: number, height: number): void {
  areas.forEach((area, i) => {
    if (area.xpos + area.width > width) {
      throw invalidNeedle(
        file,
        `area[${i}].width`,
        `xpos ${area.xpos} + width ${area.width} = ${area.xpos + area.width} is outside the ${width}×${height} image`,
      );
    }
    if (area.ypos + area.height > height) {
      throw invalidNeedle(
        file,
        `area[${i}].height`,
        `ypos ${area.ypos} + height ${area.height} = ${area.ypos + area.height} is outside the ${width}×${height} image`,
      );
    }
  });
}
