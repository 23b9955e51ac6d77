// Regenerates the needle test fixtures from real screens:
//   npx tsx test/needles/make-fixtures.ts            (screens + needles, ~3 min under TCG)
//   npx tsx test/needles/make-fixtures.ts --needles  (only rewrite the needles from the screens)
// Screens: the Debian 12 installer netboot at 1024×768 (language, language with another entry
// highlighted, location, keyboard) and at 800×600 (language), and the busybox guest's VGA shell.
// Needles: cut from those screens by the table in fixture-needles.ts.
import { execFileSync } from 'node:child_process';
import { copyFileSync, mkdirSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Frame } from '../../domain/needles/types.js';
import { prepareQemu } from '../env/services/qemu.js';
import { BUSYBOX_PROMPT } from '../guests/busybox.js';
import { FIXTURE_NEEDLES, NEEDLE_DIR, SCREEN_DIR } from './fixture-needles.js';
import {
  bootInstaller,
  bootWithScreen,
  framePng,
  grayFraction,
  litFraction,
  type ScreenGuest,
  typeOnScreen,
  waitForStillScreen,
} from './screens.js';

const scale = Number(process.env.TIMEOUT_SCALE ?? 1) || 1;
const log = (line: string) => process.stderr.write(`[fixtures] ${line}\n`);

function save(name: string, frame: Frame): Frame {
  mkdirSync(SCREEN_DIR, { recursive: true });
  writeFileSync(join(SCREEN_DIR, `${name}.png`), framePng(frame));
  log(`saved ${name}.png (${frame.width}×${frame.height})`);
  return frame;
}

const still = (screen: ScreenGuest, differsFrom?: Frame) =>
  waitForStillScreen(screen, { stillMs: 2500, timeoutMs: 120_000 * scale, tolerance: 4000, differsFrom });
/** An installer dialog is drawn: not black, and a gray dialog box covers a good part of it. */
const dialog = (screen: ScreenGuest, differsFrom?: Frame) =>
  waitForStillScreen(screen, {
    stillMs: 2500,
    timeoutMs: 120_000 * scale,
    tolerance: 4000,
    differsFrom,
    accept: (frame) => litFraction(frame) > 0.5 && grayFraction(frame) > 0.1,
  });

async function installerScreens(): Promise<void> {
  const { info: qemu } = await prepareQemu(log);
  let screen = await bootInstaller(qemu, 1024, 768);
  try {
    await screen.guest.serial.waitFor(/Select a language|Choose the language/, 300_000 * scale);
    const language = save('di-language', await dialog(screen));
    await screen.sendKey('down');
    await screen.sendKey('down');
    const down = save('di-language-down', await dialog(screen, language));
    await screen.sendKey('up');
    await screen.sendKey('up');
    const back = await dialog(screen, down);
    await screen.sendKey('ret');
    const location = save('di-location', await dialog(screen, back));
    await screen.sendKey('ret');
    save('di-keyboard', await dialog(screen, location));
  } finally {
    await screen.stop();
  }
  screen = await bootInstaller(qemu, 800, 600);
  try {
    await screen.guest.serial.waitFor(/Select a language|Choose the language/, 300_000 * scale);
    save('di-language-800x600', await dialog(screen));
  } finally {
    await screen.stop();
  }
  screen = await bootWithScreen(qemu, { ...qemu.busybox, xres: 1024, yres: 768 });
  try {
    await screen.guest.serial.waitFor(new RegExp(BUSYBOX_PROMPT), 120_000 * scale);
    const prompt = await still(screen);
    await typeOnScreen(screen, 'echo kubeqa needles; uname -s\n');
    save('busybox-shell', await still(screen, prompt));
  } finally {
    await screen.stop();
  }
}

function writeNeedles(): void {
  rmSync(NEEDLE_DIR, { recursive: true, force: true });
  for (const needle of FIXTURE_NEEDLES) {
    const dir = join(NEEDLE_DIR, needle.subdir ?? '');
    mkdirSync(dir, { recursive: true });
    copyFileSync(join(SCREEN_DIR, `${needle.screen}.png`), join(dir, `${needle.name}.png`));
    writeFileSync(join(dir, `${needle.name}.json`), `${JSON.stringify(needle.json, null, 2)}\n`);
  }
  // The project's formatter owns JSON layout in the repository.
  const biome = join(import.meta.dirname, '..', '..', 'node_modules', '.bin', 'biome');
  execFileSync(biome, ['format', '--write', NEEDLE_DIR], { stdio: 'ignore' });
  log(`wrote ${FIXTURE_NEEDLES.length} needles: ${readdirSync(NEEDLE_DIR).join(', ')}`);
}

if (!process.argv.includes('--needles')) await installerScreens();
writeNeedles();
