// Processes the test environment starts: each in its own process group, tied to its parent
// by PR_SET_PDEATHSIG (util-linux `setpriv --pdeathsig KILL`), recorded in a PID file so a
// later run reaps whatever a crashed run left behind. No orphan outlives the run.
import { type ChildProcess, spawn } from 'node:child_process';
import {
  closeSync,
  existsSync,
  mkdirSync,
  openSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { join } from 'node:path';
import { killGroup } from '../../runtime/process-group.js';
import { runStateRoot } from './paths.js';
import { requireCommand } from './system.js';

/** What identifies a process across PID reuse: its PID and start time since boot. */
interface ProcessIdentity {
  pid: number;
  startTicks: number;
  bootId: string;
}

interface PidRecord extends ProcessIdentity {
  name: string;
  command: string;
}

function bootId(): string {
  try {
    return readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim();
  } catch {
    return 'unknown';
  }
}

/** Start time of a process in clock ticks since boot (field 22 of /proc/PID/stat), or undefined if gone. */
export function processStartTicks(pid: number): number | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // The command name (field 2) may contain spaces and parentheses: parse after the last ')'.
    const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const ticks = Number(rest[19]);
    return Number.isFinite(ticks) ? ticks : undefined;
  } catch {
    return undefined;
  }
}

function isSameProcessAlive(id: ProcessIdentity): boolean {
  if (id.bootId !== bootId()) return false;
  return processStartTicks(id.pid) === id.startTicks;
}

function identity(pid: number): ProcessIdentity {
  return { pid, startTicks: processStartTicks(pid) ?? -1, bootId: bootId() };
}

let ownRunDir: string | undefined;

/** This process's run directory (created on first use), holding owner.json and one PID file per child. */
export function runDir(): string {
  if (ownRunDir) return ownRunDir;
  const dir = join(runStateRoot(), `${process.pid}-${processStartTicks(process.pid) ?? 0}`);
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'owner.json'), JSON.stringify(identity(process.pid)));
  ownRunDir = dir;
  return dir;
}

/**
 * Kill what earlier runs started and left behind: every PID file whose owner is no longer alive
 * names a process that is killed (with its process group) if it is still the same process.
 * Returns the names of the processes it killed.
 */
export function reapStale(): string[] {
  const root = runStateRoot();
  const killed: string[] = [];
  for (const entry of readdirSync(root)) {
    const dir = join(root, entry);
    if (dir === ownRunDir) continue;
    let owner: ProcessIdentity | undefined;
    try {
      owner = JSON.parse(readFileSync(join(dir, 'owner.json'), 'utf8')) as ProcessIdentity;
    } catch {
      owner = undefined;
    }
    if (owner && isSameProcessAlive(owner)) continue;
    for (const file of safeReaddir(dir)) {
      if (!file.endsWith('.pid')) continue;
      try {
        const record = JSON.parse(readFileSync(join(dir, file), 'utf8')) as PidRecord;
        if (isSameProcessAlive(record)) {
          killGroup(record.pid, 'SIGKILL');
          killed.push(`${record.name} (pid ${record.pid})`);
        }
      } catch {
        // unreadable PID file: nothing to identify, nothing to kill
      }
    }
    rmSync(dir, { recursive: true, force: true });
  }
  return killed;
}

function safeReaddir(dir: string): string[] {
  try {
    return readdirSync(dir);
  } catch {
    return [];
  }
}

/**
 * Record a process started by someone else (playwright's Chromium) so that a later run reaps it
 * if this one dies before stopping it. Returns a function that forgets it again.
 */
export function registerExternal(name: string, pid: number): () => void {
  const pidFile = join(runDir(), `${name}-${pid}.pid`);
  const record: PidRecord = { ...identity(pid), name, command: name };
  writeFileSync(pidFile, JSON.stringify(record));
  return () => rmSync(pidFile, { force: true });
}

export interface SpawnServiceOptions {
  env?: Record<string, string | undefined>;
  cwd?: string;
  /** Run as this unprivileged user (when we are root); services like PostgreSQL refuse root. */
  user?: string;
  /** Where stdout and stderr go; defaults to <runDir>/<name>.log. */
  logPath?: string;
}

/** A running service process. */
export interface ManagedProcess {
  readonly name: string;
  readonly pid: number;
  readonly logPath: string;
  readonly child: ChildProcess;
  /** Resolves with the exit code (or signal) when the process has ended. */
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** SIGTERM to the process group, SIGKILL after graceMs; resolves when it has exited. */
  stop(graceMs?: number): Promise<void>;
  /** The last lines of its log, for error messages. */
  logTail(lines?: number): string;
}

const live = new Set<ManagedProcess>();
let exitHookInstalled = false;

function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.on('exit', () => {
    for (const proc of live) killGroup(proc.pid, 'SIGKILL');
    if (ownRunDir) rmSync(ownRunDir, { recursive: true, force: true });
  });
}

/** Start a long-running process for the tests; see the module comment for the guarantees. */
export function spawnService(
  name: string,
  command: string,
  args: string[],
  options: SpawnServiceOptions = {},
): ManagedProcess {
  installExitHook();
  const setpriv = requireCommand('setpriv', ['util-linux']);
  const dir = runDir();
  const logPath = options.logPath ?? join(dir, `${name}.log`);
  const logFd = openSync(logPath, 'a');
  const privArgs = ['--pdeathsig', 'KILL'];
  if (options.user && process.getuid?.() === 0) {
    privArgs.unshift(`--reuid=${options.user}`, `--regid=${options.user}`, '--init-groups');
  }
  const env: Record<string, string> = {};
  for (const [key, value] of Object.entries({ ...process.env, ...options.env })) {
    if (value !== undefined) env[key] = value;
  }
  const child = spawn(setpriv, [...privArgs, '--', command, ...args], {
    cwd: options.cwd,
    env,
    detached: true,
    stdio: ['ignore', logFd, logFd],
  });
  closeSync(logFd);
  if (child.pid === undefined) throw new Error(`could not start ${name} (${command})`);
  const pid = child.pid;
  const pidFile = join(dir, `${name}-${pid}.pid`);
  const record: PidRecord = { ...identity(pid), name, command: [command, ...args].join(' ') };
  writeFileSync(pidFile, JSON.stringify(record));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
    child.once('exit', (code, signal) => {
      live.delete(proc);
      rmSync(pidFile, { force: true });
      resolve({ code, signal });
    });
  });
  const proc: ManagedProcess = {
    name,
    pid,
    logPath,
    child,
    exited,
    async stop(graceMs = 5000) {
      if (child.exitCode !== null || child.signalCode !== null) return;
      killGroup(pid, 'SIGTERM');
      const timer = setTimeout(() => killGroup(pid, 'SIGKILL'), graceMs);
      await exited;
      clearTimeout(timer);
      // Whatever it started in its group goes too.
      killGroup(pid, 'SIGKILL');
    },
    logTail(lines = 30) {
      return readTail(logPath, lines);
    },
  };
  live.add(proc);
  return proc;
}

export function readTail(path: string, lines: number): string {
  if (!existsSync(path)) return '';
  const text = readFileSync(path, 'utf8');
  return text.split('\n').slice(-lines).join('\n');
}

/**
 * Wait until `ready()` resolves true, checking again after each `intervalMs`; fail early with the
 * log tail if the process exits, and after `timeoutMs` with what it was waiting for.
 */
export async function waitUntilReady(
  proc: ManagedProcess,
  what: string,
  ready: () => Promise<boolean>,
  timeoutMs = 60_000,
  intervalMs = 50,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let exitedEarly = false;
  void proc.exited.then(() => {
    exitedEarly = true;
  });
  while (Date.now() < deadline) {
    if (exitedEarly) {
      throw new Error(
        `${proc.name} exited before ${what}. Last log lines (${proc.logPath}):\n${proc.logTail()}`,
      );
    }
    if (await ready().catch(() => false)) return;
    await new Promise((resolve) => setTimeout(resolve, intervalMs));
  }
  throw new Error(
    `${proc.name} did not become ready (${what}) within ${timeoutMs} ms. Last log lines (${proc.logPath}):\n${proc.logTail()}`,
  );
}
