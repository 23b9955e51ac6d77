// The needles cut from the fixture screens (make-fixtures.ts writes them to NEEDLE_DIR).
import { join } from 'node:path';

export const FIXTURE_DIR = join(import.meta.dirname, '..', 'fixtures', 'needles');
export const SCREEN_DIR = join(FIXTURE_DIR, 'screens');
export const NEEDLE_DIR = join(FIXTURE_DIR, 'needles');

export interface FixtureNeedle {
  name: string;
  /** The screen (SCREEN_DIR/<screen>.png) the needle is cut from. */
  screen: string;
  subdir?: string;
  json: Record<string, unknown>;
}

export const FIXTURE_NEEDLES: FixtureNeedle[] = [];
