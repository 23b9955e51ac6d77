// PNG ↔ Frame in plain Node (zlib does the compression). Not OpenCV: its binding keeps per-process
// JavaScript handles, so it must live in exactly one thread, the matcher's worker; the runner's
// main thread decodes and encodes screenshots with this instead.
import { crc32, deflateSync, inflateSync, constants as zlib } from 'node:zlib';
import { KubeqaError } from '../../domain/errors.js';
import type { Frame } from '../../domain/needles/types.js';

const SIGNATURE = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);

function bad(problem: string): KubeqaError {
  return new KubeqaError(
    'KQ_ERR_INVALID_ARGUMENT',
    `the PNG does not decode: ${problem}`,
    'pass the bytes of a .png file',
  );
}

/** Reverses PNG row filtering in place; `bpp` is bytes per pixel (at least 1). */
function unfilter(raw: Uint8Array, rows: number, stride: number, bpp: number): Uint8Array {
  const out = new Uint8Array(rows * stride);
  for (let y = 0; y < rows; y++) {
    const filter = raw[y * (stride + 1)]!;
    const src = y * (stride + 1) + 1;
    const dst = y * stride;
    const up = dst - stride;
    switch (filter) {
      case 0:
        out.set(raw.subarray(src, src + stride), dst);
        break;
      case 1:
        for (let i = 0; i < stride; i++) out[dst + i] = raw[src + i]! + (i >= bpp ? out[dst + i - bpp]! : 0);
        break;
      case 2:
        for (let i = 0; i < stride; i++) out[dst + i] = raw[src + i]! + (y > 0 ? out[up + i]! : 0);
        break;
      case 3:
        for (let i = 0; i < stride; i++) {
          const left = i >= bpp ? out[dst + i - bpp]! : 0;
          const above = y > 0 ? out[up + i]! : 0;
          out[dst + i] = raw[src + i]! + ((left + above) >> 1);
        }
        break;
      case 4:
        for (let i = 0; i < stride; i++) {
          const a = i >= bpp ? out[dst + i - bpp]! : 0;
          const b = y > 0 ? out[up + i]! : 0;
          const c = i >= bpp && y > 0 ? out[up + i - bpp]! : 0;
          const p = a + b - c;
          const pa = Math.abs(p - a);
          const pb = Math.abs(p - b);
          const pc = Math.abs(p - c);
          out[dst + i] = raw[src + i]! + (pa <= pb && pa <= pc ? a : pb <= pc ? b : c);
        }
        break;
      default:
        throw bad(`unknown row filter ${filter} in row ${y}`);
    }
  }
  return out;
}

/**
 * Decodes a PNG to an 8-bit RGB frame (alpha dropped: screens are opaque). Non-interlaced, 8 or
 * 16 bits per channel, grayscale, RGB, palette, with or without alpha: what screenshots and openQA
 * needles are.
 */
export function decodePng(png: Buffer): Frame {
  if (!Buffer.isBuffer(png) || png.length < 8 || !png.subarray(0, 8).equals(SIGNATURE)) {
    throw new KubeqaError(
      'KQ_ERR_INVALID_ARGUMENT',
      'not a PNG image (bad signature)',
      'pass the bytes of a .png file',
    );
  }
  let width = 0;
  let height = 0;
  let depth = 0;
  let colorType = -1;
  let palette: Buffer | undefined;
  const idat: Buffer[] = [];
  let offset = 8;
  let ended = false;
  while (offset + 8 <= png.length) {
    const length = png.readUInt32BE(offset);
    const type = png.toString('latin1', offset + 4, offset + 8);
    const body = png.subarray(offset + 8, offset + 8 + length);
    if (body.length < length) throw bad(`chunk ${type} is truncated`);
    if (type === 'IHDR') {
      width = body.readUInt32BE(0);
      height = body.readUInt32BE(4);
      depth = body[8]!;
      colorType = body[9]!;
      if (body[12] !== 0) throw bad('interlaced PNGs are not supported (save it without interlacing)');
    } else if (type === 'PLTE') palette = body;
    else if (type === 'IDAT') idat.push(body);
    else if (type === 'IEND') {
      ended = true;
      break;
    }
    offset += 12 + length;
  }
  if (!ended || width === 0 || height === 0) throw bad('truncated or corrupt (no IHDR or IEND)');
  const channelsByType: Record<number, number> = { 0: 1, 2: 3, 3: 1, 4: 2, 6: 4 };
  const samples = channelsByType[colorType];
  if (samples === undefined || (depth !== 8 && depth !== 16) || (colorType === 3 && depth !== 8)) {
    throw bad(`bit depth ${depth} with colour type ${colorType} is not supported (use 8-bit RGB)`);
  }
  if (colorType === 3 && !palette) throw bad('palette image without a PLTE chunk');
  let raw: Buffer;
  try {
    raw = inflateSync(Buffer.concat(idat));
  } catch (error) {
    throw bad(`image data does not inflate (${(error as Error).message})`);
  }
  const bytes = depth / 8;
  const bpp = samples * bytes;
  const stride = width * bpp;
  if (raw.length < height * (stride + 1)) throw bad('image data is shorter than the image');
  const pixels = unfilter(raw, height, stride, bpp);
  const data = new Uint8Array(width * height * 3);
  for (let i = 0, o = 0; o < data.length; i += bpp, o += 3) {
    if (colorType === 2 || colorType === 6) {
      data[o] = pixels[i]!;
      data[o + 1] = pixels[i + bytes]!;
      data[o + 2] = pixels[i + 2 * bytes]!;
    } else if (colorType === 3) {
      const p = pixels[i]! * 3;
      data[o] = palette![p] ?? 0;
      data[o + 1] = palette![p + 1] ?? 0;
      data[o + 2] = palette![p + 2] ?? 0;
    } else {
      const g = pixels[i]!; // high byte of 16-bit samples
      data[o] = g;
      data[o + 1] = g;
      data[o + 2] = g;
    }
  }
  return { width, height, channels: 3, data };
}

function chunk(type: string, body: Buffer): Buffer {
  const out = Buffer.alloc(12 + body.length);
  out.writeUInt32BE(body.length, 0);
  out.write(type, 4, 'latin1');
  body.copy(out, 8);
  out.writeUInt32BE(crc32(out.subarray(4, 8 + body.length)), 8 + body.length);
  return out;
}

/**
 * Encodes a frame as an 8-bit RGB PNG (alpha dropped). Rows use the "up" filter and zlib's RLE
 * strategy: screens are mostly flat areas repeated from row to row, which this compresses well at
 * a fraction of the time of the default settings.
 */
export function encodePng(frame: Frame, level = 6): Buffer {
  const { width, height, channels, data } = frame;
  if (
    !Number.isInteger(width) ||
    !Number.isInteger(height) ||
    width < 1 ||
    height < 1 ||
    data.length < width * height * channels
  ) {
    throw new KubeqaError(
      'KQ_ERR_INVALID_ARGUMENT',
      `frame data too short for ${width}×${height}×${channels}`,
    );
  }
  const stride = width * 3;
  const raw = Buffer.alloc((stride + 1) * height);
  let previous: Uint8Array = new Uint8Array(stride);
  let row: Uint8Array = new Uint8Array(stride);
  for (let y = 0; y < height; y++) {
    if (channels === 3) row = data.subarray(y * stride, (y + 1) * stride);
    else {
      row = new Uint8Array(stride);
      for (let x = 0, i = y * width * 4; x < stride; x += 3, i += 4) {
        row[x] = data[i]!;
        row[x + 1] = data[i + 1]!;
        row[x + 2] = data[i + 2]!;
      }
    }
    const o = y * (stride + 1);
    raw[o] = 2; // up
    for (let i = 0; i < stride; i++) raw[o + 1 + i] = (row[i]! - previous[i]!) & 0xff;
    previous = row;
  }
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(width, 0);
  ihdr.writeUInt32BE(height, 4);
  ihdr[8] = 8; // bit depth
  ihdr[9] = 2; // RGB
  return Buffer.concat([
    SIGNATURE,
    chunk('IHDR', ihdr),
    chunk('IDAT', deflateSync(raw, { level, strategy: zlib.Z_RLE })),
    chunk('IEND', Buffer.alloc(0)),
  ]);
}
