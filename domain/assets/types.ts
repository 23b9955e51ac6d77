// The asset model: ISOs, disk images, repositories and other files that jobs boot from or use.
// Pure types and validation, no I/O. Names follow openQA's asset types and setting names.
import { KubeqaError } from '../errors.js';

export const ASSET_TYPES = ['iso', 'hdd', 'repo', 'other'] as const;
export type AssetType = (typeof ASSET_TYPES)[number];

/** Where an asset is in its life: being imported, usable, failed (with a reason), or being deleted. */
export const ASSET_STATES = ['pending', 'importing', 'ready', 'failed', 'deleting'] as const;
export type AssetState = (typeof ASSET_STATES)[number];

export interface Asset {
  type: AssetType;
  /** File name, unique per type (openQA's convention: `iso/<name>`). */
  name: string;
  /** Bytes; undefined until known (a pending import of a source without Content-Length). */
  size?: number;
  /** Hex sha256 of the content; undefined until imported or given by the creator. */
  sha256?: string;
  /** Job groups that own it (its size counts against their limits). */
  groups: number[];
  /** Fixed assets are never removed by cleanup (openQA's `fixed/` directory). */
  fixed: boolean;
  /** When a job last used it (ms since the epoch); undefined if never used. */
  lastUse?: number;
  state: AssetState;
  /** Why it failed, for people (set with state `failed`). */
  reason?: string;
  /** Where it was imported from, if it was (http(s):// or s3://). */
  source?: string;
}

/** The Asset CRD's fileName pattern. */
const NAME = /^[A-Za-z0-9][A-Za-z0-9._+-]*$/;

export function isAssetType(value: string): value is AssetType {
  return (ASSET_TYPES as readonly string[]).includes(value);
}

/** Throws a clear error unless `name` is a safe single-segment file name. */
export function validateAssetName(name: string): string {
  if (name.length === 0 || name.length > 255 || !NAME.test(name) || name.includes('..')) {
    throw new KubeqaError(
      'KQ_ERR_INVALID_ASSET',
      `'${name.slice(0, 300)}' is not a valid asset name`,
      'use 1–255 characters from A-Z a-z 0-9 . _ + -, starting with a letter or digit, without ".." or "/"',
    );
  }
  return name;
}

export function validateAssetType(type: string): AssetType {
  if (!isAssetType(type)) {
    throw new KubeqaError(
      'KQ_ERR_INVALID_ASSET',
      `'${type.slice(0, 50)}' is not an asset type`,
      `use one of ${ASSET_TYPES.join(', ')}`,
    );
  }
  return type;
}

export function validateSha256(sha256: string): string {
  if (!/^[0-9a-f]{64}$/i.test(sha256)) {
    throw new KubeqaError(
      'KQ_ERR_INVALID_ASSET',
      `'${sha256.slice(0, 80)}' is not a sha256 checksum`,
      'give 64 hexadecimal digits, as sha256sum prints them',
    );
  }
  return sha256.toLowerCase();
}

/** The key of an asset inside the store (below the store's own prefix): `<type>/<name>`. */
export function assetKey(type: AssetType, name: string): string {
  return `${validateAssetType(type)}/${validateAssetName(name)}`;
}

/**
 * The asset type a job setting names, as openQA decides it: ISO and ISO_n → iso; HDD_n and a
 * relative UEFI_PFLASH_VARS → hdd; REPO_n → repo; ASSET_n, KERNEL and INITRD → other.
 * Anything else (including an absolute UEFI_PFLASH_VARS path) is not an asset.
 */
export function assetTypeFromSetting(setting: string, value?: string): AssetType | undefined {
  if (/^ISO(_\d+)?$/.test(setting)) return 'iso';
  if (/^HDD_\d+$/.test(setting)) return 'hdd';
  if (setting === 'UEFI_PFLASH_VARS')
    return value !== undefined && !value.startsWith('/') ? 'hdd' : undefined;
  if (/^REPO_\d+$/.test(setting)) return 'repo';
  if (/^ASSET_\d+$/.test(setting) || setting === 'KERNEL' || setting === 'INITRD') return 'other';
  return undefined;
}
