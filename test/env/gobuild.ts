// Builds test-only servers from the Go module proxy into the cache, once per version.
// Each binary gets a throwaway module (go.mod + optional main.go) in the cache; nothing of it
// lives in the repository. A lock directory keeps two concurrent runs from building twice.
import { execFile } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { promisify } from 'node:util';
import { binDir, cacheDir, goCacheEnv } from './paths.js';
import { processStartTicks } from './processes.js';
import { MissingToolError, requireCommand } from './system.js';

const execFileAsync = promisify(execFile);

export interface GoBinarySpec {
  /** Binary name, e.g. kube-apiserver. */
  name: string;
  /** Pinned version, used as the cache key. */
  version: string;
  /** `go get` arguments (module@version or package@version). */
  get: string[];
  /** Package to build (import path, or '.' for the generated main). */
  pkg: string;
  /** A main.go for binaries that need a tiny wrapper (etcd). */
  mainSource?: string;
  /** Extra go.mod text (replace directives), computed from the downloaded modules. */
  goModExtra?: (go: GoRunner) => Promise<string>;
  ldflags?: string;
  /** Minimum Go version this build needs (major.minor). */
  minGo: string;
}

export type GoRunner = (args: string[], cwd?: string) => Promise<string>;

/** Where a built binary lives in the cache. */
export function cachedBinaryPath(spec: Pick<GoBinarySpec, 'name' | 'version'>): string {
  return join(binDir(spec.name, spec.version), spec.name);
}

function goEnv(): Record<string, string> {
  return {
    ...(process.env as Record<string, string>),
    ...goCacheEnv(),
    CGO_ENABLED: '0',
    GOFLAGS: '-buildvcs=false',
    GOTOOLCHAIN: 'local',
  };
}

function requireGo(): string {
  return requireCommand('go', ['golang-go'], ['/usr/local/go/bin']);
}

async function checkGoVersion(go: string, minGo: string): Promise<void> {
  const { stdout } = await execFileAsync(go, ['env', 'GOVERSION'], { env: goEnv() });
  const match = /go(\d+)\.(\d+)/.exec(stdout);
  const [wantMajor, wantMinor] = minGo.split('.').map(Number) as [number, number];
  if (!match) return;
  const major = Number(match[1]);
  const minor = Number(match[2]);
  if (major < wantMajor || (major === wantMajor && minor < wantMinor)) {
    throw new MissingToolError(
      `Go ${minGo} or newer (found ${stdout.trim()}; the test servers are built from source)`,
      [
        'golang-go (from a release that ships Go >= ' +
          minGo +
          ', or install Go from go.dev into /usr/local/go)',
      ],
    );
  }
}

/** Take a lock directory; wait while a live process holds it, break it if its holder is gone. */
async function withLock<T>(lockDir: string, fn: () => Promise<T>): Promise<T> {
  mkdirSync(dirname(lockDir), { recursive: true });
  const me = `${process.pid} ${processStartTicks(process.pid) ?? 0}`;
  for (;;) {
    try {
      mkdirSync(lockDir);
      writeFileSync(join(lockDir, 'owner'), me);
      break;
    } catch {
      let holderAlive = false;
      try {
        const [pid, ticks] = readFileSync(join(lockDir, 'owner'), 'utf8').split(' ').map(Number);
        holderAlive = pid !== undefined && processStartTicks(pid) === ticks;
      } catch {
        holderAlive = true; // being written right now
      }
      if (!holderAlive) {
        rmSync(lockDir, { recursive: true, force: true });
        continue;
      }
      await new Promise((resolve) => setTimeout(resolve, 500));
    }
  }
  try {
    return await fn();
  } finally {
    rmSync(lockDir, { recursive: true, force: true });
  }
}

/**
 * The path of the binary, built first if the cache does not have it.
 * `log` receives one line per step, so a cold run says what it is doing.
 */
export async function ensureGoBinary(
  spec: GoBinarySpec,
  log: (line: string) => void = () => {},
): Promise<string> {
  const target = cachedBinaryPath(spec);
  if (existsSync(target)) return target;
  const go = requireGo();
  await checkGoVersion(go, spec.minGo);
  return withLock(`${binDir(spec.name, spec.version)}.lock`, async () => {
    if (existsSync(target)) return target;
    const started = Date.now();
    const src = cacheDir('testenv', 'src', `${spec.name}-${spec.version}`);
    const buildLog = join(src, 'build.log');
    rmSync(buildLog, { force: true });
    const run: GoRunner = async (args, cwd) => {
      try {
        const { stdout, stderr } = await execFileAsync(go, args, {
          cwd: cwd ?? src,
          env: goEnv(),
          maxBuffer: 64 * 1024 * 1024,
        });
        writeFileSync(buildLog, `$ go ${args.join(' ')}\n${stdout}${stderr}`, { flag: 'a' });
        return stdout;
      } catch (error) {
        const e = error as { stdout?: string; stderr?: string; message: string };
        writeFileSync(buildLog, `$ go ${args.join(' ')}\n${e.stdout ?? ''}${e.stderr ?? ''}`, { flag: 'a' });
        throw new Error(
          `building ${spec.name} ${spec.version} failed at 'go ${args.join(' ')}' (log: ${buildLog}):\n${(e.stderr ?? e.message).slice(-4000)}`,
        );
      }
    };
    log(
      `building ${spec.name} ${spec.version} from the Go module proxy (once; cached in ${dirname(target)})`,
    );
    const goMod = `module kubeqa.local/testenv/${spec.name.replace(/[^a-z0-9]/g, '')}\n\ngo ${spec.minGo}\n`;
    writeFileSync(join(src, 'go.mod'), goMod);
    rmSync(join(src, 'go.sum'), { force: true });
    if (spec.mainSource) writeFileSync(join(src, 'main.go'), spec.mainSource);
    if (spec.goModExtra) writeFileSync(join(src, 'go.mod'), goMod + (await spec.goModExtra(run)));
    await run(['get', ...spec.get], src);
    if (spec.mainSource) await run(['mod', 'tidy'], src);
    const tmp = `${target}.tmp-${process.pid}`;
    mkdirSync(dirname(target), { recursive: true });
    const ldflags = ['-s -w', spec.ldflags ?? ''].join(' ').trim();
    await run(['build', '-trimpath', '-ldflags', ldflags, '-o', tmp, spec.pkg], src);
    renameSync(tmp, target);
    log(`built ${spec.name} ${spec.version} in ${Math.round((Date.now() - started) / 1000)} s`);
    return target;
  });
}
