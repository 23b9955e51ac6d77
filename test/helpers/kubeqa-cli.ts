// Run the kubeqa CLI from source as a child process, as a user would, and collect its output.
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';

export interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

export function kubeqaCli(args: string[], env: NodeJS.ProcessEnv = process.env): Promise<CliResult> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ['--import', 'tsx', 'cli/main.ts', ...args], {
      stdio: ['ignore', 'pipe', 'pipe'],
      env,
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk) => {
      stdout += chunk;
    });
    child.stderr.on('data', (chunk) => {
      stderr += chunk;
    });
    child.once('exit', (code) => resolve({ code, stdout, stderr }));
  });
}

/** `kubeqa run …` */
export function kubeqaRun(args: string[]): Promise<CliResult> {
  return kubeqaCli(['run', ...args]);
}

export function readJson<T>(path: string): T {
  return JSON.parse(readFileSync(path, 'utf8')) as T;
}
