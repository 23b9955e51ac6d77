// Finding programs on PATH (plus the sbin directories, where Debian puts some tools).
import { accessSync, constants } from 'node:fs';
import { delimiter, join } from 'node:path';

function isExecutable(path: string): boolean {
  try {
    accessSync(path, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/** The absolute path of an executable on PATH (or in extraDirs, searched first), or undefined. */
export function findExecutable(name: string, extraDirs: string[] = []): string | undefined {
  if (name.includes('/')) return isExecutable(name) ? name : undefined;
  for (const dir of [...extraDirs, ...(process.env.PATH ?? '').split(delimiter), '/usr/sbin', '/sbin']) {
    if (!dir) continue;
    const candidate = join(dir, name);
    if (isExecutable(candidate)) return candidate;
  }
  return undefined;
}
