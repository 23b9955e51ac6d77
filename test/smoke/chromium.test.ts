// Debian's Chromium, driven by playwright-core, loads a page served by fastify and screenshots it.
import Fastify from 'fastify';
import { chromium } from 'playwright-core';
import { afterAll, describe, expect, it } from 'vitest';
import { testEnv } from '../env/index.js';

const app = Fastify();
app.get('/', async (_req, reply) =>
  reply
    .type('text/html')
    .send(
      '<!doctype html><html lang="en"><title>kubeqa smoke</title><body style="background:#0a7"><h1 id="h">served by fastify</h1><script>document.getElementById("h").dataset.js = "ran"</script></body></html>',
    ),
);
afterAll(async () => {
  await app.close();
});

describe('Chromium started by the harness', () => {
  it('loads a page and takes a screenshot', async () => {
    const url = await app.listen({ host: '127.0.0.1', port: 0 });
    const { wsEndpoint } = await testEnv.chromium();
    const browser = await chromium.connect(wsEndpoint);
    try {
      const page = await browser.newPage({ viewport: { width: 640, height: 360 } });
      await page.goto(url);
      expect(await page.title()).toBe('kubeqa smoke');
      expect(await page.locator('#h').getAttribute('data-js')).toBe('ran');
      const png = await page.screenshot();
      expect(png.subarray(1, 4).toString('ascii')).toBe('PNG');
      // IHDR: width and height of the screenshot are the viewport's.
      expect(png.readUInt32BE(16)).toBe(640);
      expect(png.readUInt32BE(20)).toBe(360);
    } finally {
      await browser.close();
    }
  });
});
