// The Debian installer job end to end, kubeqa's runner against os-autoinst, side by side:
// boot the netboot installer under TCG, match the language screen, press Enter, match the
// location screen (the same needles, examples/debian-installer/needles, load in both).
//
//   npx tsx bench/runner/run.ts [rounds] [both|kubeqa|os-autoinst]   (default: 1 round of both, one job at a time)
//
// kubeqa runs as installed (bin/kubeqa.js → dist/, built here first with `npm run build`), the
// same job settings as os-autoinst's. Each job: wall time, its phases (from the match times in
// the job logs) and the CPU time of its whole process tree, QEMU included; the load average
// next to each. Prints one line per job and a table; figures go to docs/benchmarks.md.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { stripVTControlCharacters } from 'node:util';
import { requireCommand } from '../../test/env/system.js';
import { kubeqaJobArgs, osAutoinstVars, root } from './job-args.js';
import { spawnTimed } from './timed.js';

interface JobRun {
  /** wall time from process start to exit */
  seconds: number;
  /** CPU time (user + system) of the process and all its children, QEMU included */
  cpu: number;
  /** from process start until the language screen matched */
  toLanguage: number;
  /** from the language match until the location match */
  toLocation: number;
  /** from the location match until the process exited (stop QEMU, write results) */
  toExit: number;
}

/** Runs one job under /usr/bin/time (for the CPU time of the whole process tree). */
async function timed(
  command: string,
  args: string[],
  cwd: string,
): Promise<{ started: number; ended: number; cpu: number; code: number | null; output: string }> {
  const run = await spawnTimed(command, args, cwd).done;
  return { ...run, cpu: run.user + run.system };
}

/** The time of the first log line matching `pattern` (lines start with an ISO timestamp in brackets). */
function loggedAt(log: string, pattern: RegExp, what: string): number {
  for (const line of log.split('\n')) {
    const stamp = /^\[(\d{4}-\d\d-\d\dT[\d:.]+Z)\]/.exec(line)?.[1];
    if (stamp && pattern.test(line)) return Date.parse(stamp);
  }
  throw new Error(`the log has no line for ${what}`);
}

function phases(
  run: { started: number; ended: number; cpu: number },
  language: number,
  location: number,
): JobRun {
  return {
    seconds: (run.ended - run.started) / 1000,
    cpu: run.cpu,
    toLanguage: (language - run.started) / 1000,
    toLocation: (location - language) / 1000,
    toExit: (run.ended - location) / 1000,
  };
}

/** kubeqa as installed (bin/kubeqa.js runs the compiled dist/cli/main.js), built once per bench run. */
function buildKubeqa(): void {
  process.stdout.write('building dist/ (npm run build) …\n');
  const build = spawnSync('npm', ['run', '--silent', 'build'], { cwd: root, encoding: 'utf8' });
  if (build.status !== 0) throw new Error(`npm run build failed:\n${build.stdout}${build.stderr}`);
}

async function kubeqaJob(): Promise<JobRun> {
  const dir = mkdtempSync(join(tmpdir(), 'bench-kubeqa-'));
  const run = await timed(
    process.execPath,
    [join(root, 'bin/kubeqa.js'), 'run', ...kubeqaJobArgs(join(dir, 'result'))],
    root,
  );
  if (run.code !== 0) throw new Error(`kubeqa run failed (files in ${dir}):\n${run.output}`);
  const log = readFileSync(join(dir, 'result', 'autoinst-log.txt'), 'utf8');
  const result = phases(
    run,
    loggedAt(log, /assert_screen\('installer-language'\): matched/, 'the language match'),
    loggedAt(log, /assert_screen\('installer-location'\): matched/, 'the location match'),
  );
  // what watching the screen cost (VNC requests, updates, bytes; needle checks)
  const screen = /screen: .*/.exec(log)?.[0];
  if (screen) process.stdout.write(`  kubeqa ${screen}\n`);
  rmSync(dir, { recursive: true, force: true });
  return result;
}

async function osAutoinstJob(): Promise<JobRun> {
  const isotovideo = requireCommand('isotovideo', ['os-autoinst']);
  const pool = mkdtempSync(join(tmpdir(), 'bench-isotovideo-'));
  writeFileSync(join(pool, 'vars.json'), JSON.stringify(osAutoinstVars()));
  // -d (debug log) as openQA's worker starts it; the log gives the match times.
  const run = await timed(isotovideo, ['-d'], pool);
  // isotovideo's exit code is its own; the test's verdict is in the module results.
  const resultFile = join(pool, 'testresults', 'result-location.json');
  const verdict = existsSync(resultFile)
    ? (JSON.parse(readFileSync(resultFile, 'utf8')) as { result?: string }).result
    : undefined;
  if (run.code !== 0 || verdict !== 'ok') {
    throw new Error(
      `isotovideo did not pass (exit ${run.code}, location: ${verdict ?? 'not run'}); its files are in ${pool}`,
    );
  }
  // isotovideo -d logs to standard output (autoinst-log.txt is written only under openQA's worker)
  const log = stripVTControlCharacters(run.output);
  const result = phases(
    run,
    loggedAt(log, /found installer-language/, 'the language match'),
    loggedAt(log, /found installer-location/, 'the location match'),
  );
  rmSync(pool, { recursive: true, force: true });
  return result;
}

const rounds = Number(process.argv[2] ?? 1);
const which = process.argv[3] ?? 'both';
if (!Number.isInteger(rounds) || rounds < 1 || !['both', 'kubeqa', 'os-autoinst'].includes(which)) {
  throw new Error('usage: npx tsx bench/runner/run.ts [rounds ≥ 1] [both|kubeqa|os-autoinst]');
}
interface Row {
  name: string;
  job: () => Promise<JobRun>;
  runs: (JobRun & { load: number })[];
}
const rows: Row[] = [
  { name: 'kubeqa run', job: kubeqaJob, runs: [] },
  { name: 'os-autoinst (isotovideo -d)', job: osAutoinstJob, runs: [] },
].filter((r) => which === 'both' || r.name.startsWith(which));
if (rows.some((r) => r.job === kubeqaJob)) buildKubeqa();
const f = (n: number) => n.toFixed(1);
for (let i = 0; i < rounds; i++) {
  // Alternate which side goes first so a load change on the shared machine hits both alike.
  for (const row of i % 2 === 0 ? rows : [...rows].reverse()) {
    const run = await row.job();
    // The 1-minute load average when the job ended (the machine may be shared).
    const load = loadavg()[0] ?? Number.NaN;
    row.runs.push({ ...run, load });
    process.stdout.write(
      `round ${i + 1}: ${row.name} ${f(run.seconds)} s (to language ${f(run.toLanguage)} s, to location ${f(run.toLocation)} s, to exit ${f(run.toExit)} s; CPU ${f(run.cpu)} s; load ${f(load)})\n`,
    );
  }
}
const median = (v: number[]) => [...v].sort((a, b) => a - b)[Math.floor(v.length / 2)] ?? Number.NaN;
process.stdout.write(
  '\n| job | median s | to language | language → location | location → exit | CPU s | runs s (load average) |\n|---|---|---|---|---|---|---|\n',
);
for (const row of rows) {
  const m = (pick: (r: JobRun) => number) => f(median(row.runs.map(pick)));
  process.stdout.write(
    `| ${row.name} | ${m((r) => r.seconds)} | ${m((r) => r.toLanguage)} | ${m((r) => r.toLocation)} | ${m((r) => r.toExit)} | ${m((r) => r.cpu)} | ${row.runs
      .map((r) => `${f(r.seconds)} (${f(r.load)})`)
      .join(', ')} |\n`,
  );
}
