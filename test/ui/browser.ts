// Browser helpers for the UI tests: Debian's Chromium through playwright-core (testEnv.chromium()),
// console errors collected per page, axe-core run inside the page, screenshots for docs/ui.md.

import { mkdirSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type Browser, type BrowserContext, chromium, type Page } from 'playwright-core';
import { testEnv } from '../env/index.js';

const require = createRequire(import.meta.url);
const AXE = readFileSync(require.resolve('axe-core/axe.min.js'), 'utf8');
/**
 * Where the browser tests put their screenshots: docs/ui (for docs/ui.md) only when asked with
 * KUBEQA_UI_SCREENSHOTS=1, so that a test run leaves the checkout as it was; a temporary
 * directory otherwise.
 */
export const SHOTS = process.env.KUBEQA_UI_SCREENSHOTS
  ? join(import.meta.dirname, '..', '..', 'docs', 'ui')
  : join(tmpdir(), `kubeqa-ui-screenshots-${process.pid}`);

export interface AxeViolation {
  id: string;
  impact: string | null;
  help: string;
  nodes: { target: string[] }[];
}

export async function connectBrowser(): Promise<Browser> {
  const { wsEndpoint } = await testEnv.chromium();
  return chromium.connect(wsEndpoint);
}

/** A page whose console errors and uncaught exceptions are collected in `errors`. */
export async function watchedPage(context: BrowserContext): Promise<{ page: Page; errors: string[] }> {
  const page = await context.newPage();
  const errors: string[] = [];
  page.on('console', (m) => {
    if (m.type() === 'error') errors.push(`console: ${m.text()} (${page.url()})`);
  });
  page.on('pageerror', (e) => errors.push(`page error: ${e.message} (${page.url()})`));
  return { page, errors };
}

/** axe-core's serious and critical violations on the current page. */
export async function seriousViolations(page: Page): Promise<AxeViolation[]> {
  await page.evaluate(AXE);
  const violations = (await page.evaluate(
    "axe.run(document, { resultTypes: ['violations'] }).then((r) => r.violations)",
  )) as AxeViolation[];
  return violations.filter((v) => v.impact === 'serious' || v.impact === 'critical');
}

export async function screenshot(page: Page, name: string): Promise<void> {
  mkdirSync(SHOTS, { recursive: true });
  await page.screenshot({ path: join(SHOTS, `${name}.png`), fullPage: true });
}
