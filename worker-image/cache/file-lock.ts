// An exclusive lock shared by every process on the node that sees the same file (all pods with the
// cache's hostPath, whatever their PID namespace): flock(2), held by util-linux's `flock` command
// on our behalf. The kernel drops the lock when its holder goes away, so a crashed holder (even a
// SIGKILLed pod) never leaves a stale lock: our end of the pipe closes, `cat` ends, `flock` exits.
import { type ChildProcess, spawn } from 'node:child_process';
import { KubeqaError } from '../../domain/errors.js';

export interface HeldLock {
  readonly path: string;
  /** Whether another holder had it when we asked (we waited). */
  readonly contended: boolean;
  release(): Promise<void>;
}

function start(path: string, wait: boolean): ChildProcess {
  // `flock` opens the file close-on-exec, locks it, runs the shell and keeps the lock until the
  // shell ends; the shell says it holds the lock and then waits for our stdin to close.
  return spawn(
    'flock',
    [
      '--exclusive',
      ...(wait ? [] : ['--nonblock']),
      '--conflict-exit-code',
      '75',
      path,
      'sh',
      '-c',
      'echo locked; exec cat >/dev/null',
    ],
    {
      stdio: ['pipe', 'pipe', 'pipe'],
    },
  );
}

async function acquire(path: string, wait: boolean, signal?: AbortSignal): Promise<HeldLock | undefined> {
  // A quick non-blocking try first tells whether we had to wait.
  if (wait) {
    const quick = await acquire(path, false, signal);
    if (quick) return quick;
  }
  const child = start(path, wait);
  let stderr = '';
  child.stderr?.setEncoding('utf8').on('data', (text: string) => {
    stderr += text;
  });
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const onAbort = () => child.kill('SIGKILL');
  signal?.addEventListener('abort', onAbort, { once: true });
  try {
    const locked = await new Promise<boolean>((resolve, reject) => {
      let out = '';
      child.stdout?.setEncoding('utf8').on('data', (text: string) => {
        out += text;
        if (out.includes('locked')) resolve(true);
      });
      child.once('error', (error: NodeJS.ErrnoException) =>
        reject(
          error.code === 'ENOENT'
            ? new KubeqaError(
                'KQ_ERR_MISSING_TOOL',
                "the 'flock' command is missing",
                'apt-get install -y util-linux',
              )
            : error,
        ),
      );
      void exited.then((code) => {
        if (code === 75) resolve(false);
        else
          reject(
            new KubeqaError(
              'KQ_ERR_CACHE',
              `cannot lock ${path}: ${stderr.trim() || `flock exited ${code}`}`,
            ),
          );
      });
    });
    if (!locked) return undefined;
  } catch (error) {
    child.kill('SIGKILL');
    if (signal?.aborted) throw signal.reason ?? error;
    throw error;
  } finally {
    signal?.removeEventListener('abort', onAbort);
  }
  return {
    path,
    contended: wait,
    async release() {
      child.stdin?.end();
      await exited;
    },
  };
}

/** Wait until the lock is ours. */
export function lock(path: string, signal?: AbortSignal): Promise<HeldLock> {
  return acquire(path, true, signal) as Promise<HeldLock>;
}

/** The lock if nobody holds it, otherwise undefined at once. */
export function tryLock(path: string): Promise<HeldLock | undefined> {
  return acquire(path, false);
}
