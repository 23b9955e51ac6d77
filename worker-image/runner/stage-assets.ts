// Staging a job's assets in `setup`: the runner calls stageAssets() with the job's settings and
// gets a local file path for each asset setting (ISO, HDD_n, …). While an asset is still being
// imported (a `*_URL` download, an Asset CR) the job waits, and `onWaiting` gets the reason to
// show, e.g. "waiting for assets: iso/a.iso: importing, 25 % of 4.0 GiB"; an asset whose import
// failed fails the staging with that reason. The wait wakes on the server's state change
// (GET /api/v1/assets/:type/:name?wait=N answers when the state changes), not on a timer.
//
// Where the files come from:
//   - `sidecar`: the pod's cache sidecar over its unix socket (or a daemon's URL): a hard link into
//     the node cache's pool directory for this job;
//   - `cache`: an in-process node cache (remote workers: its source is the web API over HTTPS with
//     an API key, no S3 credentials; see worker-image/cache/config.ts `sourceFromEnv`);
//   - `local`: the embedded mode's local-directory store, used in place (the runner only ever
//     reads a base image through a qcow2 overlay).
import { fileURLToPath } from 'node:url';
import { assetReadiness, type RequiredAsset } from '../../domain/assets/readiness.js';
import {
  type AssetState,
  type AssetType,
  assetKey,
  assetTypeFromSetting,
} from '../../domain/assets/types.js';
import { signRequest } from '../../domain/auth/hmac.js';
import { KubeqaError } from '../../domain/errors.js';
import type { LocalStore } from '../../runtime/storage/local-store.js';
import type { AssetCache } from '../cache/cache.js';
import { acquireFromDaemon, type CacheEndpoint } from '../cache/client.js';

export type AssetSupply =
  | { kind: 'sidecar'; endpoint: CacheEndpoint }
  | { kind: 'cache'; cache: AssetCache }
  | { kind: 'local'; store: LocalStore };

/** An asset's record as the server has it (undefined: not registered). */
export interface AssetStateRecord {
  state: AssetState | null;
  size?: number | null;
  bytes_imported?: number | null;
  reason?: string | null;
  checksum?: string | null;
}

/** Reads an asset's record; with `waitSeconds`, answers early when its state changes. */
export type AssetStateReader = (
  type: AssetType,
  name: string,
  waitSeconds: number,
) => Promise<AssetStateRecord | undefined>;

export interface StagedAsset {
  setting: string;
  type: AssetType;
  name: string;
  path: string;
}

export interface StageAssetsOptions {
  /** The job's id (the cache keeps its links under it until the job is released). */
  job: string | number;
  settings: Readonly<Record<string, string>>;
  supply: AssetSupply;
  states: AssetStateReader;
  /** The reason the job waits, each time it changes. */
  onWaiting?: (reason: string) => void | Promise<void>;
  /** Give up waiting for imports after this long (default 6 h). */
  timeoutMs?: number;
  signal?: AbortSignal;
}

/** The asset settings of a job: ISO, ISO_n, HDD_n, REPO_n, ASSET_n, KERNEL, INITRD, relative UEFI_PFLASH_VARS. */
export function requiredAssets(
  settings: Readonly<Record<string, string>>,
): (RequiredAsset & { setting: string })[] {
  const out: (RequiredAsset & { setting: string })[] = [];
  for (const [setting, value] of Object.entries(settings)) {
    if (!value || value.includes('/') || value.startsWith('%')) continue;
    const type = assetTypeFromSetting(setting, value);
    if (type) out.push({ setting, type, name: value });
  }
  return out;
}

/** Reads asset records from the web API (reads need no credentials; a key signs them if given). */
export function apiAssetStates(options: {
  apiUrl: string;
  apiKey?: string;
  apiSecret?: string;
}): AssetStateReader {
  const base = new URL(options.apiUrl);
  return async (type, name, waitSeconds) => {
    const path = `${base.pathname.replace(/\/$/, '')}/api/v1/assets/${encodeURIComponent(type)}/${encodeURIComponent(name)}${waitSeconds > 0 ? `?wait=${waitSeconds}` : ''}`;
    const headers =
      options.apiKey && options.apiSecret ? signRequest(options.apiKey, options.apiSecret, path) : {};
    const response = await fetch(new URL(path, base.origin), { headers });
    if (response.status === 404) {
      await response.body?.cancel();
      return undefined;
    }
    if (!response.ok) {
      throw new KubeqaError(
        'KQ_ERR_UNREACHABLE',
        `reading asset ${type}/${name} from the web API failed: ${response.status} ${await response.text()}`,
      );
    }
    return (await response.json()) as AssetStateRecord;
  };
}

function toReadinessRecord(need: RequiredAsset, record: AssetStateRecord | undefined) {
  if (!record) return undefined;
  // An asset only named by settings (no import state) is usable when the store has it.
  const state = record.state ?? 'ready';
  return {
    type: need.type,
    name: need.name,
    state,
    ...(record.size ? { size: Number(record.size) } : {}),
    ...(record.bytes_imported !== null && record.bytes_imported !== undefined
      ? { bytes: Number(record.bytes_imported) }
      : {}),
    ...(record.reason ? { reason: record.reason } : {}),
  };
}

async function acquire(
  supply: AssetSupply,
  job: string,
  need: RequiredAsset,
  sha256: string | undefined,
  signal?: AbortSignal,
): Promise<string> {
  const request = { type: need.type, name: need.name, job, ...(sha256 ? { sha256 } : {}) };
  switch (supply.kind) {
    case 'sidecar':
      return (await acquireFromDaemon(supply.endpoint, request, signal)).path;
    case 'cache':
      return (await supply.cache.acquire({ ...request, ...(signal ? { signal } : {}) })).path;
    case 'local': {
      const key = assetKey(need.type, need.name);
      const facts = await supply.store.stat(key);
      if (!facts) {
        throw new KubeqaError(
          'KQ_ERR_NOT_FOUND',
          `asset ${key} does not exist in ${supply.store.description}`,
          'import it first (POST /api/v1/assets with url=…, or a *_URL setting)',
        );
      }
      return fileURLToPath(supply.store.location(key));
    }
  }
}

/** Wait until the job's assets are imported, then put each where the runner can read it. */
export async function stageAssets(options: StageAssetsOptions): Promise<StagedAsset[]> {
  const required = requiredAssets(options.settings);
  const unique = required.filter(
    (r, i) => required.findIndex((o) => o.type === r.type && o.name === r.name) === i,
  );
  const timeoutMs = options.timeoutMs ?? 6 * 3600_000;
  const deadline = Date.now() + timeoutMs;
  const records = new Map<string, AssetStateRecord | undefined>();
  let lastReason: string | undefined;
  let waitOn: RequiredAsset | undefined;
  for (;;) {
    if (options.signal?.aborted) throw options.signal.reason ?? new Error('aborted');
    const remaining = Math.max(0, deadline - Date.now());
    for (const need of unique) {
      const label = `${need.type}/${need.name}`;
      const waitSeconds = need === waitOn ? Math.min(30, Math.ceil(remaining / 1000)) : 0;
      records.set(label, await options.states(need.type, need.name, waitSeconds));
    }
    const readiness = assetReadiness(
      unique,
      unique
        .map((need) => toReadinessRecord(need, records.get(`${need.type}/${need.name}`)))
        .filter((r) => r !== undefined),
    );
    // Not registered at all: the store may still have it (placed there by hand); acquiring says.
    const unregistered =
      !readiness.ready && readiness.waitingFor.every((w) => !records.get(`${w.type}/${w.name}`));
    if (readiness.ready || unregistered) break;
    if (readiness.failed) throw new KubeqaError('KQ_ERR_INVALID_ASSET', readiness.reason);
    if (Date.now() >= deadline) {
      throw new KubeqaError(
        'KQ_ERR_UNREACHABLE',
        `gave up after ${Math.round(timeoutMs / 1000)} s ${readiness.reason}`,
      );
    }
    if (readiness.reason !== lastReason) {
      lastReason = readiness.reason;
      await options.onWaiting?.(readiness.reason);
    }
    waitOn = readiness.waitingFor.find((w) => records.get(`${w.type}/${w.name}`));
  }
  const job = String(options.job);
  const paths = new Map<string, string>();
  for (const need of unique) {
    const record = records.get(`${need.type}/${need.name}`);
    const sha256 = record?.checksum && /^[0-9a-f]{64}$/.test(record.checksum) ? record.checksum : undefined;
    paths.set(`${need.type}/${need.name}`, await acquire(options.supply, job, need, sha256, options.signal));
  }
  return required.map((r) => ({
    setting: r.setting,
    type: r.type,
    name: r.name,
    path: paths.get(`${r.type}/${r.name}`) as string,
  }));
}
