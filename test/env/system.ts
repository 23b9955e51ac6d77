// System prerequisites come from Debian packages. A missing one is a loud failure with the
// exact command that installs it: the test environment never skips.
import { existsSync } from 'node:fs';
import { findExecutable } from '../../runtime/executables.js';

/** Thrown when a tool the tests need is not installed. */
export class MissingToolError extends Error {
  readonly code = 'KQ_ERR_MISSING_TOOL';
  constructor(
    readonly what: string,
    readonly packages: string[],
  ) {
    super(
      `${what} is not installed. Install it with:\n  sudo apt-get install -y ${packages.join(' ')}\n` +
        '(or run ./scripts/setup.sh, which installs every system package the project needs)',
    );
    this.name = 'MissingToolError';
  }
}

export { findExecutable };

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
