// Loads OpenCV's native binding (@u4/opencv4nodejs built against Debian's libopencv-dev by
// scripts/build-opencv4nodejs.sh). The addon file is required directly: the package's JavaScript
// wrapper would pull in its build tooling and try to locate or build OpenCV at load time.
// Only the synchronous API is used (its async API crashed Node here); every Mat is released
// explicitly, since external memory tracking is switched off (see below).
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { isMainThread } from 'node:worker_threads';
import type * as OpenCV from '@u4/opencv4nodejs';
import { KubeqaError } from '../../domain/errors.js';

export type CV = typeof OpenCV.default;
export type Mat = OpenCV.Mat;

const require = createRequire(import.meta.url);
let loaded: CV | undefined;

/** Path of the built addon inside node_modules. */
export function addonPath(): string {
  // The package exports only its entry (cjs/lib/opencv4nodejs.js): its root is three levels up.
  const entry = require.resolve('@u4/opencv4nodejs');
  return join(dirname(entry), '..', '..', 'build', 'Release', 'opencv4nodejs.node');
}

export function loadOpenCV(): CV {
  if (loaded) return loaded;
  // Read by the addon with getenv() when it loads; only the main thread can change the real
  // environment, and workers inherit it from there.
  if (isMainThread) process.env.OPENCV4NODEJS_DISABLE_EXTERNAL_MEM_TRACKING ??= '1';
  const path = addonPath();
  try {
    loaded = require(path) as CV;
  } catch (error) {
    throw new KubeqaError(
      'KQ_ERR_MISSING_TOOL',
      `OpenCV's Node binding cannot be loaded from ${path}: ${(error as Error).message.split('\n')[0]}`,
      'run ./scripts/setup.sh (it builds @u4/opencv4nodejs against libopencv-dev: apt-get install -y libopencv-dev)',
      { cause: error },
    );
  }
  return loaded;
}

/** Runs `body` and releases every Mat it registered, whatever happens. */
export function withMats<T>(body: (keep: <M extends Mat>(mat: M) => M) => T): T {
  const mats: Mat[] = [];
  try {
    return body((mat) => {
      mats.push(mat);
      return mat;
    });
  } finally {
    for (const mat of mats) mat.release();
  }
}
