// Needle matching speed, kubeqa vs os-autoinst's tinycv, on the same real screenshots and needle:
//   npx tsx bench/needles/run.ts [repeat]
// Per check: one area (184×18) with margin 50, and a whole-screen search (exact — by the addon's
// FFT or sparse search, and as before by OpenCV's matchTemplate — and verdict-only as the runner
// asks before the deadline; and several needles on one screen, as at the deadline); each on a
// screen where the area is where the needle recorded it (the usual case once the screen is there)
// and on one where it is not (a search is needed); and a second area that is not there, with
// text around it instead of a flat window. tinycv is timed inside perl (search_needle on a fresh
// copy of the loaded screen, minus the copy), ours in-process (engine) and through the worker
// thread the runner uses (matcher). PNG decode/encode per 1024×768 screenshot too. Wall-clock
// figures are medians of 5 batches; CPU figures are process CPU time (user + system, all
// threads) per check, steadier than wall-clock on a loaded machine.
import { readFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { join } from 'node:path';
import type { Needle } from '../../domain/needles/types.js';
import { NEEDLE_DIR, SCREEN_DIR } from '../../test/needles/fixture-needles.js';
import { tinycvBench } from '../../test/needles/tinycv.js';
import { MatchEngine } from '../../worker-image/needles/engine.js';
import { cpuHasAvx2, loadFftCorr } from '../../worker-image/needles/fftcorr.js';
import { createMatcher, decodePng, encodePng, loadNeedleDir } from '../../worker-image/needles/index.js';
import { bandFor } from '../../worker-image/needles/matcher.js';
import { loadOpenCV } from '../../worker-image/needles/opencv.js';

const repeat = Number(process.argv[2] ?? 200);
const load = () =>
  loadavg()
    .map((v) => v.toFixed(2))
    .join(', ');
const loadAtStart = load();
const needles = await loadNeedleDir(NEEDLE_DIR);
const needle = needles.find((n) => n.name === 'di-language')!;
const spec = { pngPath: needle.pngPath, areas: needle.areas };
const MARGIN = 50;

const BATCHES = 5;
const median = (values: number[]) => values.sort((a, b) => a - b)[Math.floor(values.length / 2)]!;

/** The CPU time per call (user + system, all threads of this process) of the last time() call. */
let lastCpu = Number.NaN;

/**
 * Median over 5 batches of the mean wall-clock ms per call (the machine is shared: batches
 * differ); the process CPU time per call, over all batches, is left in lastCpu.
 */
function time(times: number, body: () => void): number {
  body(); // warm-up
  const batch = Math.max(1, Math.trunc(times / BATCHES));
  const means: number[] = [];
  const cpuStart = process.cpuUsage();
  for (let b = 0; b < BATCHES; b++) {
    const start = process.hrtime.bigint();
    for (let i = 0; i < batch; i++) body();
    means.push(Number(process.hrtime.bigint() - start) / 1e6 / batch);
  }
  const cpu = process.cpuUsage(cpuStart);
  lastCpu = (cpu.user + cpu.system) / 1000 / (batch * BATCHES);
  return median(means);
}
async function timeAsync(times: number, body: () => Promise<unknown>): Promise<number> {
  await body();
  const batch = Math.max(1, Math.trunc(times / BATCHES));
  const means: number[] = [];
  for (let b = 0; b < BATCHES; b++) {
    const start = process.hrtime.bigint();
    for (let i = 0; i < batch; i++) await body();
    means.push(Number(process.hrtime.bigint() - start) / 1e6 / batch);
  }
  return median(means);
}

/** tinycv's figures: median of 3 runs of the perl benchmark. */
function tinycvMedian(path: string, needle: Needle): ReturnType<typeof tinycvBench> {
  const runs = [0, 1, 2].map(() => tinycvBench(path, needle, MARGIN, Math.trunc(repeat / 2)));
  const pick = (key: keyof (typeof runs)[0]) => median(runs.map((r) => r[key]));
  return {
    load_png: pick('load_png'),
    area: pick('area'),
    whole_screen: pick('whole_screen'),
    copy: pick('copy'),
    area_cpu: pick('area_cpu'),
    whole_screen_cpu: pick('whole_screen_cpu'),
    copy_cpu: pick('copy_cpu'),
    area_similarity: runs[0]!.area_similarity,
    whole_screen_similarity: runs[0]!.whole_screen_similarity,
  };
}

interface Row {
  check: string;
  screen: string;
  tinycv: number;
  engine: number;
  matcher: number;
  /** CPU time per check (process, all threads). */
  tinycvCpu: number;
  engineCpu: number;
  similarity: string;
}
const rows: Row[] = [];
const cases = [
  ['di-language-down', 'area in place'],
  ['di-location', 'area not there'],
] as const;
const frames = new Map(
  cases.map(([name]) => [name, decodePng(readFileSync(join(SCREEN_DIR, `${name}.png`)))]),
);
/**
 * The title's window on the location screen is nearly flat (one dark gray); a second area that
 * is not there has text all around it: the language list's "English" row (360×16) on the
 * location screen's country list. One-area checks only.
 */
const textAround = needles.find((n) => n.name === 'di-language-english')!;
const textAroundSpec = { pngPath: textAround.pngPath, areas: textAround.areas };
const wholeTimes = Math.max(10, Math.trunc(repeat / 10));

// Phase 1: tinycv, and our engine in this thread (OpenCV's binding may live in one thread at a
// time, so the engine is closed before the matcher's worker loads it in phase 2).
// Results of an unchanged screen are not reused here: every check searches.
const engine = new MatchEngine(300, false);
engine.preload([spec, textAroundSpec]);
/** The engine before the addon's searches: every exact search by OpenCV's matchTemplate. */
const byMatchTemplate = new MatchEngine(300, false, undefined, false);
byMatchTemplate.preload([spec, textAroundSpec]);
for (const [screenName, what] of cases) {
  const path = join(SCREEN_DIR, `${screenName}.png`);
  const frame = frames.get(screenName)!;
  const theirs = tinycvMedian(path, needle);
  for (const [full, verdictOnly] of [
    [false, false],
    [false, true],
    [true, false],
    [true, true],
  ] as const) {
    const margins = () => (full ? Number.POSITIVE_INFINITY : MARGIN);
    let similarity = 0;
    let bounded = false;
    const ours = time(full ? wholeTimes : repeat, () => {
      // per check: copy the rows needed, gray + blur them, search (what the worker does)
      const band = bandFor(frame, [needle], full);
      const result = engine.match(band, [spec], margins, { verdictOnly })[0]![0]!;
      similarity = result.similarity;
      bounded = result.bounded === true;
    });
    const oursCpu = lastCpu;
    const tinycvMs = (full ? theirs.whole_screen : theirs.area) - theirs.copy;
    const tinycvCpu = (full ? theirs.whole_screen_cpu : theirs.area_cpu) - theirs.copy_cpu;
    const theirSim = full ? theirs.whole_screen_similarity : theirs.area_similarity;
    rows.push({
      check: `${full ? 'whole screen' : `one area, margin ${MARGIN}`}${verdictOnly ? ', verdict only' : ''}`,
      screen: `${screenName} (${what})`,
      tinycv: tinycvMs,
      engine: ours,
      matcher: Number.NaN,
      tinycvCpu,
      engineCpu: oursCpu,
      similarity: `${bounded ? '≤ ' : ''}${similarity.toFixed(3)} / ${theirSim.toFixed(3)}`,
    });
    if (!verdictOnly && (full || what === 'area not there')) {
      // the same exact search by OpenCV's matchTemplate (the engine before the addon's searches)
      let before = 0;
      const mt = time(full ? wholeTimes : repeat, () => {
        const band = bandFor(frame, [needle], full);
        before = byMatchTemplate.match(band, [spec], margins)[0]![0]!.similarity;
      });
      rows.push({
        check: `${full ? 'whole screen' : `one area, margin ${MARGIN}`}, exact, by matchTemplate (the engine before the addon's searches)`,
        screen: `${screenName} (${what})`,
        tinycv: tinycvMs,
        engine: mt,
        matcher: Number.NaN,
        tinycvCpu,
        engineCpu: lastCpu,
        similarity: `${before.toFixed(3)} / ${theirSim.toFixed(3)}`,
      });
    }
  }
  if (screenName === 'di-location') {
    // The check at the deadline searches every candidate needle on the same screen: the screen's
    // spectrum is computed once and shared. Candidates: every fixture needle of the language
    // screen family (none is on the location screen); per needle, against tinycv's one search.
    const family = needles.filter(
      (n) => n.name.startsWith('di-language') && n.name !== 'di-language-800x600',
    );
    const specs = family.map((n) => ({ pngPath: n.pngPath, areas: n.areas }));
    const areas = specs.reduce((k, s) => k + s.areas.filter((a) => a.type === 'match').length, 0);
    engine.preload(specs);
    const every = () => Number.POSITIVE_INFINITY;
    const perArea = time(wholeTimes, () => engine.match(bandFor(frame, family, true), specs, every)) / areas;
    rows.push({
      check: `whole screen, exact, ${family.length} needles (${areas} areas) on one screen, per area`,
      screen: `${screenName} (${what})`,
      tinycv: theirs.whole_screen - theirs.copy,
      engine: perArea,
      matcher: Number.NaN,
      tinycvCpu: theirs.whole_screen_cpu - theirs.copy_cpu,
      engineCpu: lastCpu / areas,
      similarity: '',
    });
  }
  if (screenName === 'di-location') {
    // The raw transforms, same process: OpenCV 4.6's real DFT of the 1024×768 gray screen (float32,
    // forward, then inverse to real output) against ours: the window's spectrum (pocketfft, plus
    // the mean subtracted) and one search (product, inverse FFT, error map, exact candidates).
    const cv = loadOpenCV();
    const grayData = new Uint8Array(frame.width * frame.height);
    for (let i = 0; i < grayData.length; i++) grayData[i] = frame.data[i * 3 + 1]!;
    const gray32 = new cv.Mat(Buffer.from(grayData), frame.height, frame.width, cv.CV_8U).convertTo(
      cv.CV_32F,
    );
    const opencvDft = time(wholeTimes, () => {
      const spectrum = gray32.dft();
      spectrum.dft(cv.DFT_INVERSE | cv.DFT_REAL_OUTPUT | cv.DFT_SCALE).release();
      spectrum.release();
    });
    const opencvDftCpu = lastCpu;
    const fft = loadFftCorr();
    const spectrum = new Float32Array(2 * frame.height * (frame.width / 2 + 1));
    const template = grayData.slice(0, 184 * 18);
    const t = fft.templateSpectrum(template, 184, 18, frame.width, frame.height);
    const ours = time(wholeTimes, () => {
      const scene = fft.sceneSpectrum(
        grayData,
        frame.width,
        0,
        0,
        frame.width,
        frame.height,
        frame.width,
        frame.height,
        spectrum,
      );
      fft.search(
        grayData,
        frame.width,
        0,
        0,
        frame.width,
        frame.height,
        frame.width,
        frame.height,
        spectrum,
        scene.shift,
        template,
        184,
        18,
        t.spectrum,
        t.shift,
        t.sumShifted,
        t.sumSqShifted,
        1e5,
        4096,
      );
    });
    gray32.release();
    rows.push({
      check: `raw 1024×768 real 2D FFT, forward + inverse (left: OpenCV dft; right: ${cpuHasAvx2() ? 'AVX2 ' : ''}pocketfft + the search's map and candidates)`,
      screen: '—',
      tinycv: opencvDft,
      engine: ours,
      matcher: Number.NaN,
      tinycvCpu: opencvDftCpu,
      engineCpu: lastCpu,
      similarity: '',
    });
    const png = readFileSync(path);
    rows.push({
      check: 'PNG decode 1024×768 (ours: main thread, pure Node)',
      screen: screenName,
      tinycv: theirs.load_png,
      engine: time(repeat, () => decodePng(png)),
      matcher: Number.NaN,
      tinycvCpu: Number.NaN,
      engineCpu: lastCpu,
      similarity: '',
    });
    rows.push({
      check: `PNG encode 1024×768 (${encodePng(frame).length} bytes)`,
      screen: screenName,
      tinycv: Number.NaN,
      engine: time(Math.trunc(repeat / 4), () => encodePng(frame)),
      matcher: Number.NaN,
      tinycvCpu: Number.NaN,
      engineCpu: lastCpu,
      similarity: '',
    });
  }
}
{
  // one area that is not there, with text all around its window (not flat: no sparse search)
  const screenName = 'di-location';
  const frame = frames.get(screenName)!;
  const theirs = tinycvMedian(join(SCREEN_DIR, `${screenName}.png`), textAround);
  const margins = () => MARGIN;
  for (const [label, subject, verdictOnly] of [
    ['exact', engine, false],
    ['verdict only', engine, true],
    ['exact, by matchTemplate (the engine before)', byMatchTemplate, false],
  ] as const) {
    let similarity = 0;
    let bounded = false;
    const ours = time(repeat, () => {
      const band = bandFor(frame, [textAround], false);
      const result = subject.match(band, [textAroundSpec], margins, { verdictOnly })[0]![0]!;
      similarity = result.similarity;
      bounded = result.bounded === true;
    });
    rows.push({
      check: `one area (360×16), margin ${MARGIN}, ${label}`,
      screen: `${screenName} (area not there, text around it)`,
      tinycv: theirs.area - theirs.copy,
      engine: ours,
      matcher: Number.NaN,
      tinycvCpu: theirs.area_cpu - theirs.copy_cpu,
      engineCpu: lastCpu,
      similarity: `${bounded ? '≤ ' : ''}${similarity.toFixed(3)} / ${theirs.area_similarity.toFixed(3)}`,
    });
  }
}
console.error('FFT searches:', JSON.stringify(engine.fftStats));
console.error('sparse searches:', JSON.stringify(engine.sparseStats));
engine.close();
byMatchTemplate.close();

// Phase 2: through the worker thread, as the runner calls it (copy of the rows, message, match).
const matcher = createMatcher();
await matcher.preload([needle]);
for (const [screenName, what] of cases) {
  const frame = frames.get(screenName)!;
  // A new screen every check (one pixel of the bottom row flips): no result can be reused.
  const last = frame.data.length - 1;
  const whole = await timeAsync(wholeTimes, () => {
    frame.data[last] = frame.data[last]! ^ 1;
    return matcher.match(frame, [needle], { fullSearch: true });
  });
  rows.push({
    check: 'whole screen, screen unchanged since the last check',
    screen: `${screenName} (${what})`,
    tinycv: Number.NaN,
    engine: Number.NaN,
    matcher: await timeAsync(wholeTimes, () => matcher.match(frame, [needle], { fullSearch: true })),
    tinycvCpu: Number.NaN,
    engineCpu: Number.NaN,
    similarity: '',
  });
  const row = rows.find((r) => r.check === 'whole screen' && r.screen.startsWith(screenName))!;
  row.matcher = whole;
  const quickRow = rows.find(
    (r) => r.check === 'whole screen, verdict only' && r.screen.startsWith(screenName),
  )!;
  quickRow.matcher = await timeAsync(wholeTimes, () => {
    frame.data[last] = frame.data[last]! ^ 1;
    return matcher.match(frame, [needle], { fullSearch: true, verdictOnly: true });
  });
  rows.push({
    check: 'ordinary check (margin 69, as openQA)',
    screen: `${screenName} (${what})`,
    tinycv: Number.NaN,
    engine: Number.NaN,
    matcher: await timeAsync(repeat, () => matcher.match(frame, [needle], { fullSearch: false })),
    tinycvCpu: Number.NaN,
    engineCpu: Number.NaN,
    similarity: '',
  });
  rows.push({
    check: 'ordinary check (margin 69, as openQA), verdict only (before the deadline)',
    screen: `${screenName} (${what})`,
    tinycv: Number.NaN,
    engine: Number.NaN,
    matcher: await timeAsync(repeat, () =>
      matcher.match(frame, [needle], { fullSearch: false, verdictOnly: true }),
    ),
    tinycvCpu: Number.NaN,
    engineCpu: Number.NaN,
    similarity: '',
  });
}
await matcher.close();

const ms = (v: number) => (Number.isNaN(v) ? '—' : v.toFixed(3));
const ratio = (a: number, b: number) => (Number.isNaN(a) || Number.isNaN(b) ? '—' : `${(a / b).toFixed(1)}×`);
console.log(
  `needle matching, ms per check (median of ${BATCHES} batches; ${repeat} area checks, ${wholeTimes} whole-screen)`,
);
console.log(`load average (1, 5, 15 min): ${loadAtStart} at the start, ${load()} at the end\n`);
console.log(
  '| check | screen | tinycv | kubeqa engine | kubeqa via worker | speed-up (engine) | tinycv CPU | engine CPU | speed-up (CPU) | similarity ours / tinycv |',
);
console.log('|---|---|---|---|---|---|---|---|---|---|');
for (const r of rows) {
  console.log(
    `| ${r.check} | ${r.screen} | ${ms(r.tinycv)} | ${ms(r.engine)} | ${ms(r.matcher)} | ${ratio(r.tinycv, r.engine)} | ${ms(r.tinycvCpu)} | ${ms(r.engineCpu)} | ${ratio(r.tinycvCpu, r.engineCpu)} | ${r.similarity} |`,
  );
}
