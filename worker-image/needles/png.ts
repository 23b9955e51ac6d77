// PNG ↔ Frame with OpenCV's codecs (libpng). Encoding uses fast zlib settings: the runner saves
// every screenshot of a job with it.
import { KubeqaError } from '../../domain/errors.js';
import type { Frame } from '../../domain/needles/types.js';
import { loadOpenCV, withMats } from './opencv.js';

/** Decodes a PNG (any colour type or bit depth) to an 8-bit RGB frame; alpha is dropped. */
export function decodePng(png: Buffer): Frame {
  if (!Buffer.isBuffer(png) || png.length < 8 || png.readUInt32BE(0) !== 0x89504e47) {
    throw new KubeqaError(
      'KQ_ERR_INVALID_ARGUMENT',
      'not a PNG image (bad signature)',
      'pass the bytes of a .png file',
    );
  }
  const cv = loadOpenCV();
  return withMats((keep) => {
    let bgr: ReturnType<typeof cv.imdecode>;
    try {
      bgr = keep(cv.imdecode(png, cv.IMREAD_COLOR));
    } catch (error) {
      throw new KubeqaError(
        'KQ_ERR_INVALID_ARGUMENT',
        `the PNG does not decode: ${(error as Error).message}`,
      );
    }
    if (bgr.empty)
      throw new KubeqaError('KQ_ERR_INVALID_ARGUMENT', 'the PNG does not decode (truncated or corrupt)');
    const rgb = keep(bgr.cvtColor(cv.COLOR_BGR2RGB));
    return { width: rgb.cols, height: rgb.rows, channels: 3, data: new Uint8Array(rgb.getData()) };
  });
}

/** Encodes a frame as an RGB PNG (alpha, if any, is dropped: screens are opaque). */
export function encodePng(frame: Frame, compression = 1): Buffer {
  const cv = loadOpenCV();
  const { width, height, channels, data } = frame;
  if (data.length < width * height * channels) {
    throw new KubeqaError(
      'KQ_ERR_INVALID_ARGUMENT',
      `frame data too short for ${width}×${height}×${channels}`,
    );
  }
  return withMats((keep) => {
    const buffer = Buffer.from(data.buffer, data.byteOffset, width * height * channels);
    const rgb = keep(new cv.Mat(buffer, height, width, channels === 4 ? cv.CV_8UC4 : cv.CV_8UC3));
    const bgr = keep(rgb.cvtColor(channels === 4 ? cv.COLOR_RGBA2BGR : cv.COLOR_RGB2BGR));
    return cv.imencode('.png', bgr, [cv.IMWRITE_PNG_COMPRESSION, compression]);
  });
}
