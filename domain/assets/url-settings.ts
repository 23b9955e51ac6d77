// `*_URL` job settings, with openQA's meaning: `ISO_URL=https://host/path/file.iso` asks the
// server to download that file as the job's ISO before the job can run.
//   - the part before `_URL` must name an asset setting (ISO, ISO_n, HDD_n, REPO_n, ASSET_n, KERNEL,
//     INITRD, UEFI_PFLASH_VARS); other `…_URL` settings (SCC_URL, MIRROR_URL, …) are ordinary
//     settings and left alone;
//   - the asset's file name is the asset setting's value when it is set, otherwise the last path
//     segment of the URL, and the asset setting is then set to that name;
//   - `…_DECOMPRESS_URL` downloads a compressed file and stores it decompressed, its name without
//     the compression suffix;
//   - only hosts in the configured download domains (a domain and its subdomains) may be used.
// kubeqa also accepts `s3://bucket/key` sources (copied from the configured S3 endpoint). Pure.
import { KubeqaError } from '../errors.js';
import { type AssetType, assetTypeFromSetting, validateAssetName } from './types.js';

export type Compression = 'gzip' | 'xz' | 'bzip2' | 'zstd';

export interface UrlDownload {
  /** The asset setting it fills (ISO, HDD_1, …). */
  setting: string;
  type: AssetType;
  name: string;
  url: string;
  /** Decompress while importing (`…_DECOMPRESS_URL`). */
  decompress?: Compression;
}

export interface UrlSettingsResult {
  /** The settings with every asset setting filled with its file name. */
  settings: Record<string, string>;
  downloads: UrlDownload[];
}

const SUFFIXES: [string, Compression][] = [
  ['.gz', 'gzip'],
  ['.xz', 'xz'],
  ['.bz2', 'bzip2'],
  ['.zst', 'zstd'],
];

/** True when `host` is one of `domains` or a subdomain of one. */
export function hostAllowed(host: string, domains: readonly string[]): boolean {
  const h = host.toLowerCase().replace(/\.$/, '');
  return domains.some((d) => {
    const domain = d.toLowerCase().replace(/^\./, '').replace(/\.$/, '');
    return domain.length > 0 && (h === domain || h.endsWith(`.${domain}`));
  });
}

/** The downloads that `*_URL` settings ask for, and the settings with asset names filled in. */
export function planUrlDownloads(
  input: Readonly<Record<string, string>>,
  options: { downloadDomains: readonly string[] },
): UrlSettingsResult {
  const settings: Record<string, string> = { ...input };
  const downloads: UrlDownload[] = [];
  for (const [key, value] of Object.entries(input)) {
    const match = /^(.+?)(_DECOMPRESS)?_URL$/.exec(key);
    if (!match?.[1]) continue;
    const setting = match[1];
    const decompressing = match[2] !== undefined;
    const type = assetTypeFromSetting(setting, input[setting] ?? 'relative');
    if (!type) continue;
    const url = parseSource(key, value);
    if (url.protocol !== 's3:' && !hostAllowed(url.hostname, options.downloadDomains)) {
      throw new KubeqaError(
        'KQ_ERR_INVALID_SETTING',
        `${key}: downloads from '${url.hostname}' are not allowed`,
        options.downloadDomains.length === 0
          ? 'no download domains are configured; add the host (or its domain) to the download domains'
          : `allowed domains: ${options.downloadDomains.join(', ')}`,
      );
    }
    let compression: Compression | undefined;
    let name = input[setting];
    const urlName = lastSegment(key, url);
    if (decompressing) {
      const suffix = SUFFIXES.find(([s]) => urlName.toLowerCase().endsWith(s));
      if (!suffix) {
        throw new KubeqaError(
          'KQ_ERR_INVALID_SETTING',
          `${key}: cannot tell how '${urlName}' is compressed`,
          `the URL must end in one of ${SUFFIXES.map(([s]) => s).join(', ')}`,
        );
      }
      compression = suffix[1];
      name ??= urlName.slice(0, -suffix[0].length);
    }
    name ??= urlName;
    validateAssetName(name);
    settings[setting] = name;
    downloads.push({
      setting,
      type,
      name,
      url: url.toString(),
      ...(compression ? { decompress: compression } : {}),
    });
  }
  return { settings, downloads };
}

function parseSource(key: string, value: string): URL {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw new KubeqaError('KQ_ERR_INVALID_SETTING', `${key}: '${value.slice(0, 200)}' is not a URL`);
  }
  if (!['http:', 'https:', 's3:'].includes(url.protocol)) {
    throw new KubeqaError(
      'KQ_ERR_INVALID_SETTING',
      `${key}: '${url.protocol}' URLs cannot be downloaded`,
      'use http://, https:// or s3://bucket/key',
    );
  }
  return url;
}

function lastSegment(key: string, url: URL): string {
  const segments = url.pathname.split('/').filter((s) => s.length > 0);
  const last = segments.at(-1);
  if (!last) {
    throw new KubeqaError(
      'KQ_ERR_INVALID_SETTING',
      `${key}: '${url.toString()}' names no file`,
      'point the URL at a file, or set the asset setting to the name it should get',
    );
  }
  return decodeURIComponent(last);
}
