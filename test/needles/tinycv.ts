// Drives os-autoinst's own matcher (Debian package os-autoinst, perl module tinycv) through
// tinycv-match.pl, for the compatibility test and the benchmark.
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import type { Needle } from '../../domain/needles/types.js';
import { requireCommand, requireFile } from '../env/system.js';

const SCRIPT = join(import.meta.dirname, 'tinycv-match.pl');
const OS_AUTOINST = '/usr/lib/os-autoinst';

export interface TinycvCandidate {
  name: string;
  ok: boolean;
  error: number;
  areas: Array<{ x: number; y: number; similarity: number }>;
}
export interface TinycvResult {
  found: string | null;
  candidates: TinycvCandidate[];
}

function needleJson(needle: Needle) {
  return {
    name: needle.name,
    png: needle.pngPath,
    area: needle.areas.map((a) => ({ ...a })),
    properties: needle.properties,
  };
}

function runPerl(request: unknown): unknown {
  const perl = requireCommand('perl', ['perl']);
  requireFile([join(OS_AUTOINST, 'needle.pm')], ['os-autoinst'], "os-autoinst's matcher (perl tinycv)");
  const run = spawnSync(perl, [`-I${OS_AUTOINST}`, SCRIPT], {
    input: JSON.stringify(request),
    encoding: 'utf8',
    maxBuffer: 64 * 1024 * 1024,
  });
  if (run.status !== 0) throw new Error(`tinycv-match.pl failed (${run.status}): ${run.stderr}`);
  return JSON.parse(run.stdout);
}

/** One tinycv search per check: all needles against one screen PNG, as os-autoinst checks. */
export function tinycvMatch(
  checks: Array<{ screen: string; needles: Needle[] }>,
  fullSearch: boolean,
): TinycvResult[] {
  return runPerl({
    mode: 'match',
    // os-autoinst: 1 on a full search, 0.02 on the others
    search_ratio: fullSearch ? 1 : 0.02,
    checks: checks.map((c) => ({ screen: c.screen, needles: c.needles.map(needleJson) })),
  }) as TinycvResult[];
}

export interface TinycvBench {
  load_png: number;
  area: number;
  whole_screen: number;
  copy: number;
  /** The same in process CPU time (user + system, all threads), ms per call. */
  area_cpu: number;
  whole_screen_cpu: number;
  copy_cpu: number;
  area_similarity: number;
  whole_screen_similarity: number;
}

/** Milliseconds per check of tinycv's search_needle (first match area), and per PNG load. */
export function tinycvBench(screen: string, needle: Needle, margin: number, repeat: number): TinycvBench {
  return runPerl({ mode: 'bench', screen, needle: needleJson(needle), margin, repeat }) as TinycvBench;
}
