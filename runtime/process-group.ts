// Child processes that must never outlive their parent (QEMU above all). Each starts with execa
// in its own process group under util-linux `setpriv --pdeathsig KILL`, which sets
// PR_SET_PDEATHSIG before exec'ing the real command: if this process dies, even by SIGKILL, the
// kernel kills the child. stop() signals the whole group (SIGTERM, then SIGKILL after a grace
// period), and an exit hook SIGKILLs whatever is still running when this process exits normally.
import { execa, type ResultPromise } from 'execa';
import { KubeqaError } from '../domain/errors.js';
import { findExecutable } from './executables.js';

export interface GroupChild {
  readonly pid: number;
  /** Resolves once the process has ended (never rejects). */
  readonly exited: Promise<{ code: number | undefined; signal: string | undefined }>;
  /** True once exited has resolved. */
  hasExited(): boolean;
  /** SIGTERM to the group, SIGKILL after graceMs; resolves when the process has ended. */
  stop(graceMs?: number): Promise<void>;
  /** SIGKILL to the group at once. */
  kill(): void;
}

export interface SpawnGroupOptions {
  cwd?: string;
  env?: Record<string, string | undefined>;
  /** File receiving stdout and stderr (appended). */
  logFile?: string;
}

const live = new Set<number>();
let hookInstalled = false;

function installExitHook(): void {
  if (hookInstalled) return;
  hookInstalled = true;
  process.on('exit', () => {
    for (const pid of live) killGroup(pid, 'SIGKILL');
  });
}

export function killGroup(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pid, signal);
  } catch {
    try {
      process.kill(pid, signal);
    } catch {
      // already gone
    }
  }
}

/** The absolute path of an executable on PATH, or undefined. */
export function which(name: string): string | undefined {
  return findExecutable(name);
}

/** The argv that runs `command args` tied to this process's life (pure; for tests and logs). */
export function pdeathsigArgv(setpriv: string, command: string, args: string[]): [string, string[]] {
  return [setpriv, ['--pdeathsig', 'KILL', '--', command, ...args]];
}

/** Start a process in its own group, killed with its parent; see the module comment. */
export function spawnInGroup(command: string, args: string[], options: SpawnGroupOptions = {}): GroupChild {
  const setpriv = which('setpriv');
  if (!setpriv) {
    throw new KubeqaError(
      'KQ_ERR_MISSING_TOOL',
      "the command 'setpriv' is not installed",
      'install it with: apt-get install -y util-linux',
    );
  }
  installExitHook();
  const [file, argv] = pdeathsigArgv(setpriv, command, args);
  const output = options.logFile ? { file: options.logFile, append: true } : 'ignore';
  const child: ResultPromise = execa(file, argv, {
    cwd: options.cwd,
    env: options.env,
    extendEnv: true,
    detached: true,
    stdin: 'ignore',
    stdout: output as 'ignore',
    stderr: output as 'ignore',
    reject: false,
    cleanup: true,
    buffer: false,
  });
  const pid = child.pid;
  if (pid === undefined) {
    throw new KubeqaError('KQ_ERR_INTERNAL', `could not start ${command}`, 'check that it is installed');
  }
  live.add(pid);
  let done = false;
  const exited = child.then(
    (result) => {
      done = true;
      live.delete(pid);
      return { code: result.exitCode, signal: result.signal };
    },
    () => {
      done = true;
      live.delete(pid);
      return { code: undefined, signal: undefined };
    },
  );
  return {
    pid,
    exited,
    hasExited: () => done,
    async stop(graceMs = 5000) {
      if (done) return;
      killGroup(pid, 'SIGTERM');
      const timer = setTimeout(() => killGroup(pid, 'SIGKILL'), graceMs);
      await exited;
      clearTimeout(timer);
      killGroup(pid, 'SIGKILL');
    },
    kill() {
      killGroup(pid, 'SIGKILL');
    },
  };
}
