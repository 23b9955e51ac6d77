// Child processes for the cache tests: real separate processes on one cache directory.
import { type ChildProcessWithoutNullStreams, spawn } from 'node:child_process';
import { createInterface } from 'node:readline';

export interface Worker {
  child: ChildProcessWithoutNullStreams;
  /** Resolves with each stdout line matching, in order. */
  next(): Promise<string>;
  stderr(): string;
}

export function startWorker(script: string, args: string[], env: Record<string, string>): Worker {
  const child = spawn(process.execPath, ['--import', 'tsx', script, ...args], {
    env: { ...process.env, ...env },
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  let err = '';
  child.stderr.setEncoding('utf8').on('data', (text: string) => {
    err += text;
  });
  const queue: string[] = [];
  const waiting: ((line: string) => void)[] = [];
  let ended = false;
  const failWaiting: ((error: Error) => void)[] = [];
  const lines = createInterface({ input: child.stdout });
  lines.on('line', (line) => {
    const w = waiting.shift();
    failWaiting.shift();
    if (w) w(line);
    else queue.push(line);
  });
  // Fail what still waits only once stdout has ended and every line has been delivered: the
  // child's 'exit' can come before its last lines are read (its stdio may still be open then).
  lines.once('close', () => {
    ended = true;
    const early = () =>
      new Error(`worker ended its output early (exit ${child.exitCode ?? 'not yet'}):\n${err}`);
    for (const fail of failWaiting.splice(0)) fail(early());
    waiting.splice(0);
  });
  return {
    child,
    next() {
      const line = queue.shift();
      if (line !== undefined) return Promise.resolve(line);
      if (ended) return Promise.reject(new Error(`worker already exited:\n${err}`));
      return new Promise((resolve, reject) => {
        waiting.push(resolve);
        failWaiting.push(reject);
      });
    },
    stderr: () => err,
  };
}
