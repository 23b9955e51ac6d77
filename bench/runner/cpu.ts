// Where the CPU of one installer job goes: runs the job (kubeqa's or os-autoinst's, the same one
// bench/runner/run.ts times) and samples /proc every 100 ms for every process of its tree and
// every thread of each, so the figures say which program and which thread burnt the time —
// QEMU's vCPU threads against its main loop (where the VNC server and display refresh run),
// the runner's main thread against the matcher's worker thread. CPU seconds do not depend on the
// load of a shared machine the way wall times do.
//
//   npx tsx bench/runner/cpu.ts [kubeqa|os-autoinst] [runs]
//
// A thread that ends between two samples loses at most its last 100 ms; the process tree's
// total from wait4 (the `total` line) is exact.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { stripVTControlCharacters } from 'node:util';
import { requireCommand } from '../../test/env/system.js';
import { kubeqaJobArgs, osAutoinstVars, root } from './job-args.js';
import { spawnTimed } from './timed.js';

const TICKS = 100; // USER_HZ

interface ThreadStat {
  pid: number;
  tid: number;
  process: string;
  thread: string;
  cpu: number;
}

function readStat(path: string): { comm: string; ppid: number; ticks: number } | undefined {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch {
    return undefined;
  }
  const close = text.lastIndexOf(')');
  const comm = text.slice(text.indexOf('(') + 1, close);
  const fields = text.slice(close + 2).split(' ');
  // fields[0] is state (field 3); utime is field 14, stime 15
  return { comm, ppid: Number(fields[1]), ticks: Number(fields[11]) + Number(fields[12]) };
}

function processName(pid: number, comm: string): string {
  try {
    const argv = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').filter(Boolean);
    const script = argv.find((a) => /\.(js|ts|pl)$|isotovideo|kubeqa/.test(a));
    const base = (argv[0] ?? comm).split('/').pop() ?? comm;
    return script && base !== script ? `${base} ${script.split('/').pop()}` : base;
  } catch {
    return comm;
  }
}

/** Every descendant of root (and root), by walking /proc's parent links. */
function tree(rootPid: number): number[] {
  const children = new Map<number, number[]>();
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const stat = readStat(`/proc/${entry}/stat`);
    if (!stat) continue;
    const list = children.get(stat.ppid) ?? [];
    list.push(Number(entry));
    children.set(stat.ppid, list);
  }
  const out: number[] = [];
  const queue = [rootPid];
  while (queue.length > 0) {
    const pid = queue.shift() as number;
    out.push(pid);
    queue.push(...(children.get(pid) ?? []));
  }
  return out;
}

function sample(
  rootPid: number,
  seen: Map<string, ThreadStat>,
  names: Map<number, string>,
  firstSeen: Map<number, number>,
): void {
  for (const pid of tree(rootPid)) {
    let tids: string[];
    try {
      tids = readdirSync(`/proc/${pid}/task`);
    } catch {
      continue;
    }
    const main = readStat(`/proc/${pid}/stat`);
    if (!main) continue;
    // the name can change at exec (setpriv → qemu): name it by what it is now
    names.set(pid, processName(pid, main.comm));
    if (!firstSeen.has(pid)) firstSeen.set(pid, Date.now());
    for (const tid of tids) {
      const stat = readStat(`/proc/${pid}/task/${tid}/stat`);
      if (!stat) continue;
      seen.set(`${pid}/${tid}`, {
        pid,
        tid: Number(tid),
        process: '',
        thread: stat.comm,
        cpu: stat.ticks / TICKS,
      });
    }
  }
}

async function profile(
  command: string,
  args: string[],
  cwd: string,
): Promise<{ output: string; started: number }> {
  const { pid, done: finished } = spawnTimed(command, args, cwd);
  const started = Date.now();
  const seen = new Map<string, ThreadStat>();
  const names = new Map<number, string>();
  const firstSeen = new Map<number, number>();
  let done = false;
  void finished.then(
    () => {
      done = true;
    },
    () => {
      done = true;
    },
  );
  while (!done) {
    sample(pid, seen, names, firstSeen);
    await new Promise((r) => setTimeout(r, 100));
  }
  const { code, output, user, system } = await finished;
  const seconds = (Date.now() - started) / 1000;
  if (process.env.KQ_BENCH_KEEP)
    writeFileSync(join(cwd === root ? tmpdir() : cwd, 'bench-cpu-output.txt'), output);
  if (code !== 0) throw new Error(`the job failed (exit ${code}):\n${output}`);
  const byProcess = new Map<string, number>();
  const byThread = new Map<string, number>();
  for (const t of seen.values()) {
    const proc = `${names.get(t.pid) ?? '?'} [${t.pid}]`;
    byProcess.set(proc, (byProcess.get(proc) ?? 0) + t.cpu);
    const key = `${proc} / ${t.thread} [${t.tid}]${t.tid === t.pid ? ' (main)' : ''}`;
    byThread.set(key, (byThread.get(key) ?? 0) + t.cpu);
  }
  const f = (n: number) => n.toFixed(2).padStart(7);
  const lines = [
    `wall ${seconds.toFixed(1)} s, total CPU (wait4) ${f((user ?? 0) + (system ?? 0))} s (user ${user}, system ${system}), load ${loadavg()[0]?.toFixed(1)}`,
    ...[...byProcess.entries()]
      .filter(([, v]) => v > 0)
      .map(([k, v]) => {
        const pid = Number(/\[(\d+)\]$/.exec(k)?.[1]);
        const at = ((firstSeen.get(pid) ?? started) - started) / 1000;
        return `  ${f(v)} s  ${k} (started at +${at.toFixed(1)} s)`;
      }),
    '  threads:',
    ...[...byThread.entries()]
      .filter(([, v]) => v >= 0.05)
      .sort((a, b) => b[1] - a[1])
      .map(([k, v]) => `    ${f(v)} s  ${k}`),
  ];
  process.stdout.write(`${lines.join('\n')}\n`);
  return { output, started };
}

/** The time of the first log line matching `pattern` (lines start with an ISO timestamp in brackets). */
function loggedAt(log: string, pattern: RegExp): number {
  for (const line of stripVTControlCharacters(log).split('\n')) {
    const stamp = /^\[(\d{4}-\d\d-\d\dT[\d:.]+Z)\]/.exec(line)?.[1];
    if (stamp && pattern.test(line)) return Date.parse(stamp);
  }
  return Number.NaN;
}

function phaseLine(log: string, started: number, qemu: RegExp, language: RegExp): void {
  const q = loggedAt(log, qemu);
  const l = loggedAt(log, language);
  process.stdout.write(
    `  QEMU started at +${((q - started) / 1000).toFixed(1)} s; QEMU start → language matched ${((l - q) / 1000).toFixed(1)} s\n`,
  );
}

const side = process.argv[2] ?? 'kubeqa';
const runs = Number(process.argv[3] ?? 1);
if (!['kubeqa', 'os-autoinst'].includes(side) || !Number.isInteger(runs) || runs < 1) {
  throw new Error('usage: npx tsx bench/runner/cpu.ts [kubeqa|os-autoinst] [runs ≥ 1]');
}
if (side === 'kubeqa') {
  const build = spawnSync('npm', ['run', '--silent', 'build'], { cwd: root, encoding: 'utf8' });
  if (build.status !== 0) throw new Error(`npm run build failed:\n${build.stdout}${build.stderr}`);
}
for (let i = 0; i < runs; i++) {
  const dir = mkdtempSync(join(tmpdir(), 'bench-cpu-'));
  try {
    if (side === 'kubeqa') {
      const { started } = await profile(
        process.execPath,
        [
          ...(process.env.KQ_NODE_OPTIONS ?? '').split(/\s+/).filter(Boolean),
          join(root, 'bin/kubeqa.js'),
          'run',
          ...kubeqaJobArgs(join(dir, 'result')),
        ],
        root,
      );
      const log = readFileSync(join(dir, 'result', 'autoinst-log.txt'), 'utf8');
      phaseLine(log, started, /starting \/\S*qemu-system/, /assert_screen\('installer-language'\): matched/);
    } else {
      writeFileSync(join(dir, 'vars.json'), JSON.stringify(osAutoinstVars()));
      const { output, started } = await profile(requireCommand('isotovideo', ['os-autoinst']), ['-d'], dir);
      phaseLine(output, started, /starting: \/\S*qemu-system/, /found installer-language/);
    }
  } finally {
    if (!process.env.KQ_BENCH_KEEP) rmSync(dir, { recursive: true, force: true });
    else process.stdout.write(`kept ${dir}\n`);
  }
}
