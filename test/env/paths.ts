// Where the test environment keeps what it builds and what it runs.
// Everything lives outside the repository so a fresh clone reuses it and `rm -rf` of one
// directory makes the next run cold.
import { mkdirSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';

/** Root of kubeqa's caches: $KUBEQA_CACHE_DIR, else $XDG_CACHE_HOME/kubeqa, else ~/.cache/kubeqa. */
export function cacheRoot(): string {
  const explicit = process.env.KUBEQA_CACHE_DIR;
  if (explicit) return explicit;
  const xdg = process.env.XDG_CACHE_HOME;
  return join(xdg && xdg.length > 0 ? xdg : join(homedir(), '.cache'), 'kubeqa');
}

/** A directory below the cache root, created on first use. */
export function cacheDir(...parts: string[]): string {
  const dir = join(cacheRoot(), ...parts);
  mkdirSync(dir, { recursive: true });
  return dir;
}

/** Built test-only binaries, one directory per name and version. */
export function binDir(name: string, version: string): string {
  return join(cacheRoot(), 'testenv', 'bin', `${name}-${version}`);
}

/** Go's module and build caches, kept with ours so a cold run is one `rm -rf` away. */
export function goCacheEnv(): Record<string, string> {
  return {
    GOMODCACHE: process.env.KUBEQA_GOMODCACHE ?? join(cacheRoot(), 'go', 'mod'),
    GOCACHE: process.env.KUBEQA_GOCACHE ?? join(cacheRoot(), 'go', 'build'),
  };
}

/** Per-run state: PID files of the processes a run started, so a later run can reap them. */
export function runStateRoot(): string {
  return cacheDir('testenv', 'run');
}
