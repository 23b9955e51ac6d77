// System prerequisites come from Debian packages. A missing one is a loud failure with the
// exact command that installs it: the test environment never skips.
import { accessSync, constants, existsSync } from 'node:fs';
import { delimiter, join } from 'node:path';

/** Thrown when a tool the tests need is not installed. */
export class MissingToolError extends Error {
  readonly code = 'KQ_ERR_MISSING_TOOL';
  constructor(
    readonly what: string,
    readonly packages: string[],
  ) {
    super(
      `${what} is not installed. Install it with:\n  sudo apt-get install -y ${packages.join(' ')}\n` +
        '(or run ./kubeqa setup, which installs every system package the project needs)',
    );
    this.name = 'MissingToolError';
  }
}

/** Absolute path of an executable on PATH (or extra directories), or undefined. */
export function findExecutable(name: string, extraDirs: string[] = []): string | undefined {
  if (name.includes('/')) return isExecutable(name) ? name : undefined;
  const dirs = [...extraDirs, ...(process.env.PATH ?? '').split(delimiter), '/usr/sbin', '/sbin'];
  for (const dir of dirs) {
    if (!dir) continue;
    const candidate = join(dir, name);
    if (isExecutable(candidate)) return candidate;
  }
  return undefined;
}

function isExecutable(path: string): boolean {
  try {
    accessSync(path, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/** The path of a command, or a MissingToolError naming the Debian package(s) to install. */
export function requireCommand(name: string, packages: string[], extraDirs: string[] = []): string {
  const found = findExecutable(name, extraDirs);
  if (!found) throw new MissingToolError(`the command '${name}'`, packages);
  return found;
}

/** The first existing path among candidates, or a MissingToolError naming the package. */
export function requireFile(candidates: string[], packages: string[], what: string): string {
  for (const candidate of candidates) if (existsSync(candidate)) return candidate;
  throw new MissingToolError(`${what} (looked for ${candidates.join(', ')})`, packages);
}
