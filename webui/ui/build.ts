// The browser code (webui/ui/client, TypeScript) built with Vite into a directory keyed by a hash
// of its sources: built once per change, reused by every later server start and test run.
// KUBEQA_UI_DIST points at a prebuilt directory instead (container images build it at image time).
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync } from 'node:fs';
import { homedir } from 'node:os';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { KubeqaError } from '../../domain/errors.js';

export const CLIENT_DIR = join(dirname(fileURLToPath(import.meta.url)), 'client');

function files(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true })
    .flatMap((e) => (e.isDirectory() ? files(join(dir, e.name)) : [join(dir, e.name)]))
    .sort();
}

/** A hash of the client sources (and the Vite version): the cache key of a build. */
export function clientHash(dir = CLIENT_DIR): string {
  const h = createHash('sha256');
  for (const f of files(dir)) h.update(relative(dir, f)).update('\0').update(readFileSync(f)).update('\0');
  return h.digest('hex').slice(0, 16);
}

function cacheRoot(env = process.env): string {
  const base =
    env.XDG_CACHE_HOME && env.XDG_CACHE_HOME.length > 0 ? env.XDG_CACHE_HOME : join(homedir(), '.cache');
  return join(base, 'kubeqa', 'webui');
}

let building: Promise<string> | undefined;

/** The directory with index.html and static/: prebuilt, cached, or built now. */
export function uiDist(): Promise<string> {
  building ??= locate().catch((error: unknown) => {
    building = undefined;
    throw error;
  });
  return building;
}

async function locate(): Promise<string> {
  const given = process.env.KUBEQA_UI_DIST;
  if (given) {
    if (!existsSync(join(given, 'index.html')))
      throw new KubeqaError(
        'KQ_ERR_INVALID_ARGUMENT',
        `KUBEQA_UI_DIST=${given} has no index.html`,
        'build it with `npx tsx webui/ui/build.ts <dir>`',
      );
    return given;
  }
  const out = join(cacheRoot(), clientHash());
  if (existsSync(join(out, 'index.html'))) return out;
  await buildClient(out);
  return out;
}

/** Builds the client into `out` (atomically: a temporary directory renamed at the end). */
export async function buildClient(out: string): Promise<void> {
  let vite: typeof import('vite');
  try {
    vite = await import('vite');
  } catch {
    throw new KubeqaError(
      'KQ_ERR_INTERNAL',
      'the web UI is not built and Vite is not installed',
      'run `npm install` (Vite is a devDependency) or set KUBEQA_UI_DIST to a prebuilt UI',
    );
  }
  const tmp = `${out}.tmp-${process.pid}-${Date.now()}`;
  mkdirSync(dirname(out), { recursive: true });
  try {
    await vite.build({
      root: CLIENT_DIR,
      configFile: false,
      logLevel: 'error',
      base: '/',
      build: { outDir: tmp, assetsDir: 'static', emptyOutDir: true, sourcemap: true, target: 'es2022' },
    });
    if (existsSync(join(out, 'index.html'))) rmSync(tmp, { recursive: true, force: true });
    else renameSync(tmp, out);
  } catch (error) {
    rmSync(tmp, { recursive: true, force: true });
    throw error;
  }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const target = process.argv[2] ?? join(cacheRoot(), clientHash());
  await buildClient(target);
  process.stdout.write(`${target}\n`);
}
