// A job's process under /usr/bin/time, for the CPU time of its whole process tree (wait4 counts
// every descendant that was waited for): shared by the side-by-side bench (run.ts) and the CPU
// profile (cpu.ts).
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { requireCommand } from '../../test/env/system.js';

export interface TimedRun {
  started: number;
  ended: number;
  /** User and system CPU seconds of the tree. */
  user: number;
  system: number;
  code: number | null;
  /** Standard output and error, interleaved. */
  output: string;
}

/** Starts `command` under /usr/bin/time; `pid` is /usr/bin/time's, the job is its child. */
export function spawnTimed(
  command: string,
  args: string[],
  cwd: string,
): { pid: number; done: Promise<TimedRun> } {
  const time = requireCommand('time', ['time']);
  const timeFile = join(mkdtempSync(join(tmpdir(), 'bench-time-')), 'time');
  const started = Date.now();
  const child = spawn(time, ['-f', '%U %S', '-o', timeFile, command, ...args], {
    cwd,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout.on('data', (c) => {
    output += c;
  });
  child.stderr.on('data', (c) => {
    output += c;
  });
  const done = new Promise<TimedRun>((resolve, reject) => {
    child.once('error', reject);
    child.once('exit', (code) => {
      const ended = Date.now();
      const [user, system] = readFileSync(timeFile, 'utf8').trim().split(/\s+/).slice(-2).map(Number);
      rmSync(dirname(timeFile), { recursive: true, force: true });
      resolve({ started, ended, user: user ?? Number.NaN, system: system ?? Number.NaN, code, output });
    });
  });
  return { pid: child.pid as number, done };
}
