// The matcher's shared worker thread when matchers close while it is still starting: what waits
// on the start-up fails instead of waiting forever, and the next matcher starts a new worker.
// A file of its own, so that no other matcher keeps the worker running.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { createMatcher, decodePng, loadNeedleDir } from '../../worker-image/needles/index.js';
import { within } from '../helpers/deadlines.js';
import { NEEDLE_DIR, SCREEN_DIR } from './fixture-needles.js';

describe('the shared matcher worker', () => {
  it('fails a preload still waiting for the worker to start when its matcher closes, then starts anew', async () => {
    const needles = await loadNeedleDir(NEEDLE_DIR);
    const language = needles.filter((n) => n.name === 'di-language');
    expect(language).toHaveLength(1);

    const first = createMatcher();
    // starts the worker (OpenCV loads meanwhile); how it settles is kept from the start
    const preload = first.preload(language).then(
      () => 'resolved',
      (error: Error) => error.message,
    );
    await first.close(); // the last matcher: the worker is stopped before it said it was ready
    expect(await within(preload, 30_000, 'the preload settled')).toMatch(/matcher was closed/);

    const second = createMatcher();
    try {
      const frame = decodePng(readFileSync(join(SCREEN_DIR, 'di-language.png')));
      const result = await within(
        second.match(frame, language, { fullSearch: false }),
        60_000,
        'a check answered',
      );
      expect(result.ok).toBe(true);
    } finally {
      await second.close();
    }
  });
});
