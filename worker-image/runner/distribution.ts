// A test distribution: CASEDIR (a directory, or a git URL with an optional #ref) holding
// main.ts (or the SCHEDULE setting), tests/<category>/<module>.ts and needles/ (or NEEDLES_DIR).
// Test modules are user code loaded at run time: TypeScript through tsx's loader API (the same
// in the compiled product and under vitest), JavaScript with a plain import.
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, renameSync, rmSync, statSync } from 'node:fs';
import { homedir } from 'node:os';
import { basename, dirname, join, relative, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { promisify } from 'node:util';
import { KubeqaError } from '../../domain/errors.js';
import type { JobSettings } from '../../domain/runner/settings.js';
import type { ModuleFlags, ScheduleFunction, TestModule } from '../../domain/runner/testapi.js';

const run = promisify(execFile);
const MODULE_EXTENSIONS = ['.ts', '.mts', '.js', '.mjs'];

export interface ScheduledModule {
  /** Module name (file name without extension), unique in the job. */
  name: string;
  category: string;
  /** Path relative to CASEDIR, e.g. tests/boot/boot.ts. */
  script: string;
  file: string;
}

export interface LoadedModule extends ScheduledModule {
  module: TestModule;
  flags: ModuleFlags;
}

/** "git URL[#ref]" or a local path? */
export function parseSource(
  spec: string,
): { kind: 'git'; url: string; ref?: string } | { kind: 'dir'; path: string } {
  const isGit =
    /^(https?|git|ssh|file):\/\//.test(spec) || /^[\w.-]+@[\w.-]+:/.test(spec) || /\.git(#|$)/.test(spec);
  if (!isGit) return { kind: 'dir', path: spec };
  const hash = spec.indexOf('#');
  if (hash < 0) return { kind: 'git', url: spec };
  const ref = spec.slice(hash + 1);
  if (!/^[\w./-]+$/.test(ref)) {
    throw new KubeqaError(
      'KQ_ERR_INVALID_SETTING',
      `git ref '${ref}' in '${spec}' is not a branch, tag or commit`,
    );
  }
  return { kind: 'git', url: spec.slice(0, hash), ref };
}

function cacheRoot(): string {
  const explicit = process.env.KUBEQA_CACHE_DIR;
  if (explicit) return explicit;
  const xdg = process.env.XDG_CACHE_HOME;
  return join(xdg && xdg.length > 0 ? xdg : join(homedir(), '.cache'), 'kubeqa');
}

/** A local directory for CASEDIR / NEEDLES_DIR: the path itself, or a fresh checkout of git URL#ref. */
export async function resolveSource(key: string, spec: string, log: (line: string) => void): Promise<string> {
  const source = parseSource(spec);
  if (source.kind === 'dir') {
    const path = resolve(source.path);
    if (!existsSync(path) || !statSync(path).isDirectory()) {
      throw new KubeqaError(
        'KQ_ERR_NOT_FOUND',
        `${key}: ${spec} is not a directory`,
        `set ${key} to a test distribution directory or a git URL#ref`,
      );
    }
    return path;
  }
  const id = createHash('sha256')
    .update(`${source.url}#${source.ref ?? ''}`)
    .digest('hex')
    .slice(0, 16);
  const target = join(cacheRoot(), 'distributions', `${basename(source.url).replace(/\.git$/, '')}-${id}`);
  const tmp = `${target}.tmp-${process.pid}`;
  rmSync(tmp, { recursive: true, force: true });
  mkdirSync(dirname(target), { recursive: true });
  log(`${key}: cloning ${source.url}${source.ref ? `#${source.ref}` : ''}`);
  try {
    await run('git', ['clone', '--quiet', source.url, tmp], {
      env: { ...process.env, GIT_TERMINAL_PROMPT: '0' },
    });
    if (source.ref) await run('git', ['-C', tmp, 'checkout', '--quiet', '--detach', source.ref]);
  } catch (error) {
    rmSync(tmp, { recursive: true, force: true });
    throw new KubeqaError(
      'KQ_ERR_NOT_FOUND',
      `${key}: cannot check out ${spec}: ${(error as { stderr?: string }).stderr?.trim() || (error as Error).message}`,
      'check the URL and the ref after #',
    );
  }
  rmSync(target, { recursive: true, force: true });
  renameSync(tmp, target);
  return target;
}

function findScript(casedir: string, name: string): string | undefined {
  const bare = name.replace(/\.(ts|mts|js|mjs)$/, '');
  const stem = bare.startsWith('tests/') ? bare : `tests/${bare}`;
  for (const ext of MODULE_EXTENSIONS) {
    const file = join(casedir, `${stem}${ext}`);
    if (existsSync(file)) return file;
  }
  return undefined;
}

/**
 * Import a TypeScript or JavaScript file. A distribution without a package.json saying
 * "type": "module" (a plain git checkout) is loaded as CommonJS: its ES exports then arrive
 * wrapped once more ({ default: { __esModule, default } }), which is unwrapped here.
 */
export async function importFile(file: string): Promise<Record<string, unknown>> {
  let loaded: Record<string, unknown>;
  if (file.endsWith('.ts') || file.endsWith('.mts')) {
    const { tsImport } = await import('tsx/esm/api');
    loaded = (await tsImport(pathToFileURL(file).href, import.meta.url)) as Record<string, unknown>;
  } else {
    loaded = (await import(pathToFileURL(file).href)) as Record<string, unknown>;
  }
  const inner = loaded.default as Record<string, unknown> | undefined;
  if (inner && typeof inner === 'object' && inner.__esModule === true) return inner;
  return loaded;
}

function invalid(file: string, what: string): KubeqaError {
  return new KubeqaError(
    'KQ_ERR_INVALID_DISTRIBUTION',
    `${file}: ${what}`,
    'see docs/runner.md for the test distribution format',
  );
}

/** The modules to run, from SCHEDULE (comma-separated) or main.ts's default export. */
export async function loadSchedule(casedir: string, settings: JobSettings): Promise<ScheduledModule[]> {
  const names: string[] = [];
  const schedule = settings.SCHEDULE?.trim();
  if (schedule) {
    names.push(
      ...schedule
        .split(',')
        .map((s) => s.trim())
        .filter(Boolean),
    );
  } else {
    const main = ['main.ts', 'main.mts', 'main.js', 'main.mjs']
      .map((f) => join(casedir, f))
      .find((f) => existsSync(f));
    if (!main) {
      throw new KubeqaError(
        'KQ_ERR_INVALID_DISTRIBUTION',
        `${casedir} has no main.ts and the job has no SCHEDULE setting`,
        'add main.ts (default export: a function calling loadtest) or set SCHEDULE=category/module,…',
      );
    }
    let exported: Record<string, unknown>;
    try {
      exported = await importFile(main);
    } catch (error) {
      throw invalid(main, `cannot be loaded: ${(error as Error).message}`);
    }
    const fn = exported.default as ScheduleFunction | undefined;
    if (typeof fn !== 'function')
      throw invalid(main, 'its default export must be a function (s) => { s.loadtest(…) }');
    await fn({
      loadtest: (name: string) => {
        names.push(name);
      },
      get_var: (name, fallback) => settings[name] ?? fallback,
      check_var: (name, value) => settings[name] === value,
    });
  }
  const seen = new Set<string>();
  return names.map((name) => {
    const file = findScript(casedir, name);
    if (!file) {
      throw new KubeqaError(
        'KQ_ERR_INVALID_DISTRIBUTION',
        `test module '${name}' not found: no tests/${name.replace(/^tests\//, '')}.ts (or .js) in ${casedir}`,
        'check the schedule (main.ts or SCHEDULE) against the files under tests/',
      );
    }
    const script = relative(casedir, file);
    const parts = script.split('/');
    const moduleName = basename(file).replace(/\.(ts|mts|js|mjs)$/, '');
    if (seen.has(moduleName)) {
      throw new KubeqaError(
        'KQ_ERR_INVALID_DISTRIBUTION',
        `test module name '${moduleName}' is scheduled twice`,
        'module names must be unique in a job',
      );
    }
    seen.add(moduleName);
    return { name: moduleName, category: parts.length >= 3 ? (parts[1] as string) : 'tests', script, file };
  });
}

const FLAG_NAMES = ['fatal', 'ignore_failure', 'milestone', 'always_run'];

/** Import a scheduled module and check its shape. */
export async function loadModule(scheduled: ScheduledModule): Promise<LoadedModule> {
  let exported: Record<string, unknown>;
  try {
    exported = await importFile(scheduled.file);
  } catch (error) {
    throw invalid(scheduled.script, `cannot be loaded: ${(error as Error).message}`);
  }
  const module = exported.default as TestModule | undefined;
  if (!module || typeof module !== 'object' || typeof module.run !== 'function') {
    throw invalid(scheduled.script, 'its default export must be an object with a run(t) method');
  }
  if (module.post_fail_hook !== undefined && typeof module.post_fail_hook !== 'function') {
    throw invalid(scheduled.script, 'post_fail_hook must be a function');
  }
  const flags: ModuleFlags = {};
  for (const [key, value] of Object.entries(module.flags ?? {})) {
    if (!FLAG_NAMES.includes(key))
      throw invalid(scheduled.script, `unknown flag '${key}' (known: ${FLAG_NAMES.join(', ')})`);
    if (typeof value !== 'boolean') throw invalid(scheduled.script, `flag '${key}' must be true or false`);
    (flags as Record<string, boolean>)[key] = value;
  }
  return { ...scheduled, module, flags };
}
