// Run the kubeqa CLI from source as a child process, as a user would, and collect its output.
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { exitWithOutput } from './child-output.js';

export interface CliResult {
  code: number | null;
  /** The signal that ended it, when one did (SIGTERM after a missed deadline, say). */
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  /** The deadline passed and the process was sent SIGTERM (its output says how far it got). */
  timedOut: boolean;
}

export interface CliOptions {
  /**
   * Send SIGTERM once this much time has passed (SIGKILL 20 s later), so that a run that hangs
   * ends with its output in the test's failure instead of a bare test timeout. Keep it below the
   * test's own timeout.
   */
  deadlineMs?: number;
}

export function kubeqaCli(
  args: string[],
  env: NodeJS.ProcessEnv = process.env,
  options: CliOptions = {},
): Promise<CliResult> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ['--import', 'tsx', 'cli/main.ts', ...args], {
      stdio: ['ignore', 'pipe', 'pipe'],
      env,
    });
    let stdout = '';
    let stderr = '';
    let timedOut = false;
    const timers: NodeJS.Timeout[] = [];
    if (options.deadlineMs !== undefined) {
      timers.push(
        setTimeout(() => {
          timedOut = true;
          child.kill('SIGTERM');
          timers.push(setTimeout(() => child.kill('SIGKILL'), 20_000));
        }, options.deadlineMs),
      );
    }
    child.stdout.on('data', (chunk) => {
      stdout += chunk;
    });
    child.stderr.on('data', (chunk) => {
      stderr += chunk;
    });
    void exitWithOutput(child).then(({ code, signal }) => {
      for (const timer of timers) clearTimeout(timer);
      if (timedOut)
        stderr += `\n[test] kubeqa ${args.join(' ')}: no exit within ${options.deadlineMs} ms, sent SIGTERM\n`;
      resolve({ code, signal, stdout, stderr, timedOut });
    });
  });
}

/** `kubeqa run …` */
export function kubeqaRun(args: string[], options: CliOptions = {}): Promise<CliResult> {
  return kubeqaCli(['run', ...args], process.env, options);
}

export function readJson<T>(path: string): T {
  return JSON.parse(readFileSync(path, 'utf8')) as T;
}
