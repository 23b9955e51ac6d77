// From a job's settings as the API stores them to settings the runner can boot: asset settings
// (ISO, HDD_n, KERNEL, INITRD, …) name files of a local asset directory laid out as openQA's
// (<dir>/iso/<name>, <dir>/hdd/<name>, <dir>/other/<name>); CASEDIR of the demo distributions
// (or a job without CASEDIR whose DISTRI is one of them) resolves to examples/<distri> inside the
// kubeqa package. Pure apart from existence checks (`exists` is injectable for tests).
import { existsSync } from 'node:fs';
import { isAbsolute, join, resolve } from 'node:path';
import { assetTypeFromSetting } from '../../domain/assets/types.js';
import { KubeqaError } from '../../domain/errors.js';
import type { JobSettings } from '../../domain/runner/settings.js';

/**
 * The asset type (openQA's directory) of a setting whose value names a file, or undefined when it
 * names none: the shared rule (domain/assets/types.ts) without REPO_n, which names a directory.
 */
export function assetTypeOf(key: string): 'iso' | 'hdd' | 'other' | undefined {
  const type = assetTypeFromSetting(key, '');
  return type === 'repo' ? undefined : type;
}

export interface ResolveOptions {
  /** The local asset directory (openQA's layout); without it only absolute paths work. */
  assetDir?: string;
  /** Where examples/<distri> lives (the kubeqa package root). */
  packageRoot: string;
  exists?: (path: string) => boolean;
  /**
   * Settings stageAssets already put in place (worker-image/runner/stage-assets.ts): taken as the
   * paths it gives, not looked for again.
   */
  staged?: readonly { setting: string; path: string }[];
}

const REMOTE = /^[a-z][a-z0-9+.-]*:\/\/|^[\w.-]+@[\w.-]+:|\.git(#|$)/;

export function resolveJobSettings(settings: JobSettings, options: ResolveOptions): JobSettings {
  const exists = options.exists ?? existsSync;
  const out: JobSettings = { ...settings };
  const staged = new Map((options.staged ?? []).map((s) => [s.setting, s.path]));
  for (const [key, value] of Object.entries(settings)) {
    const stagedPath = staged.get(key);
    if (stagedPath !== undefined) {
      out[key] = stagedPath;
      continue;
    }
    const type = assetTypeOf(key);
    if (!type || !value) continue;
    if (isAbsolute(value)) {
      if (!exists(value))
        throw new KubeqaError(
          'KQ_ERR_NOT_FOUND',
          `${key}=${value}: no such file on this machine`,
          'give the name of an asset in the asset directory instead of a path',
        );
      continue;
    }
    if (value.includes('/') || value.includes('..')) {
      throw new KubeqaError(
        'KQ_ERR_INVALID_SETTING',
        `${key}=${value}: an asset is named without directories`,
        `put the file into <asset dir>/${type}/ and give its name`,
      );
    }
    if (!options.assetDir) {
      throw new KubeqaError(
        'KQ_ERR_NOT_FOUND',
        `${key}=${value} names an asset, but this runner has no asset directory`,
        'start it with --asset-dir DIR (files in DIR/iso, DIR/hdd, DIR/other)',
      );
    }
    const path = join(options.assetDir, type, value);
    if (!exists(path)) {
      throw new KubeqaError(
        'KQ_ERR_NOT_FOUND',
        `${key}=${value}: the asset ${type}/${value} is not in ${options.assetDir}`,
        `copy it to ${path} (or register the asset)`,
      );
    }
    out[key] = path;
  }
  const casedir = settings.CASEDIR;
  const distri = settings.DISTRI;
  const examples = join(options.packageRoot, 'examples');
  if (!casedir && distri && /^[\w.-]+$/.test(distri) && exists(join(examples, distri, 'main.ts'))) {
    out.CASEDIR = join(examples, distri);
  } else if (casedir && !isAbsolute(casedir) && !REMOTE.test(casedir)) {
    // a relative CASEDIR means a distribution shipped with kubeqa (examples/<distri>)
    const inPackage = resolve(options.packageRoot, casedir);
    if (!inPackage.startsWith(`${examples}/`) || !exists(inPackage)) {
      throw new KubeqaError(
        'KQ_ERR_INVALID_SETTING',
        `CASEDIR=${casedir} is neither an absolute path, a git URL nor one of kubeqa's examples/`,
        'give an absolute directory, a git URL#ref, or examples/<name>',
      );
    }
    out.CASEDIR = inPackage;
  }
  const needles = settings.NEEDLES_DIR;
  if (needles && !isAbsolute(needles) && !REMOTE.test(needles)) {
    const inPackage = resolve(options.packageRoot, needles);
    if (inPackage.startsWith(`${examples}/`) && exists(inPackage)) out.NEEDLES_DIR = inPackage;
  }
  return out;
}
