// Loads an openQA needle directory: every <name>.json with its <name>.png, recursing into
// subdirectories (following symbolic links, as openQA does) and skipping hidden ones (.git).
import { open, readdir, readFile, realpath, stat } from 'node:fs/promises';
import { basename, join, relative } from 'node:path';
import { KubeqaError } from '../../domain/errors.js';
import type { Needle } from '../../domain/needles/types.js';
import { checkAreasInside, invalidNeedle, parseNeedleJson } from './parse.js';

const PNG_SIGNATURE = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);

/** Width and height from a PNG's IHDR chunk, without decoding the image. */
export async function readPngSize(file: string, pngPath: string): Promise<{ width: number; height: number }> {
  let header: Buffer;
  try {
    const handle = await open(pngPath, 'r');
    try {
      header = Buffer.alloc(24);
      const { bytesRead } = await handle.read(header, 0, 24, 0);
      header = header.subarray(0, bytesRead);
    } finally {
      await handle.close();
    }
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    const problem =
      code === 'ENOENT' ? `${basename(pngPath)} is missing` : `${pngPath} cannot be read (${code})`;
    throw invalidNeedle(file, 'png', problem, error);
  }
  if (
    header.length < 24 ||
    !header.subarray(0, 8).equals(PNG_SIGNATURE) ||
    header.toString('ascii', 12, 16) !== 'IHDR'
  ) {
    throw invalidNeedle(file, 'png', `${basename(pngPath)} is not a PNG image`);
  }
  const width = header.readUInt32BE(16);
  const height = header.readUInt32BE(20);
  if (width === 0 || height === 0) throw invalidNeedle(file, 'png', `${basename(pngPath)} has no pixels`);
  return { width, height };
}

/** Loads one needle from its JSON file; the PNG is the file of the same name beside it. */
export async function loadNeedle(jsonPath: string): Promise<Needle> {
  let text: string;
  try {
    text = await readFile(jsonPath, 'utf8');
  } catch (error) {
    throw invalidNeedle(jsonPath, 'JSON', `cannot be read (${(error as NodeJS.ErrnoException).code})`, error);
  }
  const parsed = parseNeedleJson(jsonPath, text);
  const pngPath = jsonPath.replace(/\.json$/, '.png');
  const { width, height } = await readPngSize(jsonPath, pngPath);
  checkAreasInside(jsonPath, parsed.areas, width, height);
  return {
    name: basename(jsonPath, '.json'),
    tags: parsed.tags,
    areas: parsed.areas,
    properties: parsed.properties,
    jsonPath,
    pngPath,
    imageWidth: width,
    imageHeight: height,
  };
}

async function findJsonFiles(dir: string, seen: Set<string>, out: string[]): Promise<void> {
  const real = await realpath(dir);
  if (seen.has(real)) return; // a symbolic link loop
  seen.add(real);
  const entries = await readdir(dir, { withFileTypes: true });
  entries.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  for (const entry of entries) {
    if (entry.name.startsWith('.')) continue;
    const path = join(dir, entry.name);
    const isDir =
      entry.isDirectory() || (entry.isSymbolicLink() && (await stat(path).catch(() => null))?.isDirectory());
    if (isDir) await findJsonFiles(path, seen, out);
    else if (entry.name.endsWith('.json')) out.push(path);
  }
}

/**
 * Loads every needle under `dir`. A malformed needle throws KQ_ERR_INVALID_NEEDLE naming its file
 * and field; so does a name used twice (openQA keys needles by file name: the second would hide the
 * first).
 */
export async function loadNeedleDir(dir: string): Promise<Needle[]> {
  const info = await stat(dir).catch(() => null);
  if (!info?.isDirectory()) {
    throw new KubeqaError(
      'KQ_ERR_NOT_FOUND',
      `needle directory ${dir} does not exist or is not a directory`,
      'set NEEDLES_DIR (or CASEDIR with a needles/ folder) to a directory of <name>.json + <name>.png files',
    );
  }
  const files: string[] = [];
  await findJsonFiles(dir, new Set(), files);
  const needles = await Promise.all(files.map((file) => loadNeedle(file)));
  const byName = new Map<string, Needle>();
  for (const needle of needles) {
    const other = byName.get(needle.name);
    if (other) {
      throw invalidNeedle(
        needle.jsonPath,
        'name',
        `"${needle.name}" is also the name of ${relative(dir, other.jsonPath)}; needle names must be unique`,
      );
    }
    byName.set(needle.name, needle);
  }
  return needles;
}
