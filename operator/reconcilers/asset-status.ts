// An Asset CR's status from what its import did: where it is imported from and to, what to do on a
// reconcile (nothing, start an import), and the status for each step of an import (Pending,
// Importing with progress, Ready with its location, Failed with a typed reason). Pure.
import { validateAssetName, validateAssetType } from '../../domain/assets/types.js';
import { KubeqaError } from '../../domain/errors.js';
import { type Condition, findCondition, setCondition } from '../controller/conditions.js';
import type { KubeObject } from '../controller/informer.js';

export type AssetPhase = 'Pending' | 'Importing' | 'Ready' | 'Failed';

/** The Ready condition's reasons: a cluster admin can filter on them. */
export type AssetReason =
  | 'Pending'
  | 'Importing'
  | 'Imported'
  | 'ChecksumMismatch'
  | 'SourceUnavailable'
  | 'InvalidSpec'
  | 'StoreFailed'
  | 'ImportFailed';

export interface AssetSpec {
  type: string;
  fileName?: string;
  source: { url?: string; s3Key?: string };
  sha256?: string;
  size?: number;
  retention?: { fixed?: boolean; keepDays?: number };
}

export interface AssetStatus {
  phase?: AssetPhase;
  progress?: number;
  location?: string;
  lastUsed?: string;
  reason?: string;
  observedGeneration?: number;
  conditions?: Condition<AssetReason>[];
}

export interface AssetObject extends KubeObject {
  spec: AssetSpec;
  status?: AssetStatus;
}

export interface ImportTarget {
  type: 'iso' | 'hdd' | 'repo' | 'other';
  name: string;
  /** `<type>/<name>` in the store. */
  key: string;
  /** http(s):// URL or s3://bucket/key. */
  source: string;
  sha256?: string;
}

/** Where to import from and to; throws KQ_ERR_INVALID_ASSET for a spec the import cannot use. */
export function importTarget(spec: AssetSpec, storeBucket: string | undefined): ImportTarget {
  const type = validateAssetType(spec.type);
  const { url, s3Key } = spec.source ?? {};
  if ((url === undefined) === (s3Key === undefined)) {
    throw new KubeqaError('KQ_ERR_INVALID_ASSET', 'set exactly one of source.url or source.s3Key');
  }
  let source: string;
  let lastSegment: string | undefined;
  if (url !== undefined) {
    let parsed: URL;
    try {
      parsed = new URL(url);
    } catch {
      throw new KubeqaError('KQ_ERR_INVALID_ASSET', `source.url '${url.slice(0, 200)}' is not a URL`);
    }
    if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') {
      throw new KubeqaError('KQ_ERR_INVALID_ASSET', 'source.url must be an http:// or https:// URL');
    }
    source = parsed.toString();
    lastSegment = parsed.pathname.split('/').filter(Boolean).at(-1);
    if (lastSegment) lastSegment = decodeURIComponent(lastSegment);
  } else {
    if (!storeBucket) {
      throw new KubeqaError(
        'KQ_ERR_INVALID_ASSET',
        'source.s3Key needs an S3 asset store, but the operator stores assets in a local directory',
        'use source.url, or configure KUBEQA_S3_* for the operator',
      );
    }
    const key = (s3Key as string).replace(/^\/+/, '');
    if (key.length === 0) throw new KubeqaError('KQ_ERR_INVALID_ASSET', 'source.s3Key is empty');
    source = `s3://${storeBucket}/${key.split('/').map(encodeURIComponent).join('/')}`;
    lastSegment = key.split('/').filter(Boolean).at(-1);
  }
  const name = spec.fileName ?? lastSegment;
  if (!name) {
    throw new KubeqaError(
      'KQ_ERR_INVALID_ASSET',
      'the source names no file',
      'set spec.fileName to the name jobs use for this asset',
    );
  }
  validateAssetName(name);
  return {
    type,
    name,
    key: `${type}/${name}`,
    source,
    ...(spec.sha256 ? { sha256: spec.sha256.toLowerCase() } : {}),
  };
}

/** The typed reason for an import error. */
export function failureReason(error: unknown): AssetReason {
  const code = error instanceof KubeqaError ? error.code : undefined;
  switch (code) {
    case 'KQ_ERR_CHECKSUM_MISMATCH':
      return 'ChecksumMismatch';
    case 'KQ_ERR_INVALID_ASSET':
    case 'KQ_ERR_INVALID_ARGUMENT':
    case 'KQ_ERR_INVALID_SETTING':
      return 'InvalidSpec';
    case 'KQ_ERR_DOWNLOAD':
    case 'KQ_ERR_NOT_FOUND':
    case 'KQ_ERR_UNREACHABLE':
      return 'SourceUnavailable';
    case 'KQ_ERR_STORAGE':
      return 'StoreFailed';
    default:
      return 'ImportFailed';
  }
}

/** A message for people: the error's message (a KubeqaError's includes its hint). */
export function failureMessage(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/** Whether the current generation's import is finished (Ready or Failed): nothing to do then. */
export function importSettled(asset: AssetObject): boolean {
  const status = asset.status;
  const generation = asset.metadata.generation ?? 1;
  return status?.observedGeneration === generation && (status.phase === 'Ready' || status.phase === 'Failed');
}

function withReady(
  asset: AssetObject,
  phase: AssetPhase,
  fields: Omit<AssetStatus, 'phase' | 'conditions' | 'observedGeneration'>,
  ready: { status: 'True' | 'False'; reason: AssetReason; message: string },
  now: Date,
): AssetStatus {
  const generation = asset.metadata.generation ?? 1;
  return {
    ...(asset.status?.lastUsed ? { lastUsed: asset.status.lastUsed } : {}),
    ...fields,
    phase,
    observedGeneration: generation,
    conditions: setCondition(
      asset.status?.conditions,
      { type: 'Ready', ...ready, observedGeneration: generation },
      now,
    ),
  };
}

/** Percent of `total` (or the spec's size) done; 0 while unknown. */
export function progressPercent(bytes: number, total: number | undefined): number {
  if (!total || total <= 0) return 0;
  return Math.min(100, Math.floor((100 * bytes) / total));
}

export function importingStatus(
  asset: AssetObject,
  target: ImportTarget,
  progress: { bytes: number; total?: number; attempt?: number },
  now: Date,
): AssetStatus {
  const total = progress.total ?? asset.spec.size;
  const percent = progressPercent(progress.bytes, total);
  const retry = progress.attempt && progress.attempt > 1 ? ` (attempt ${progress.attempt})` : '';
  return withReady(
    asset,
    'Importing',
    { progress: percent },
    {
      status: 'False',
      reason: 'Importing',
      message: `importing ${target.source.replace(/[?#].*$/, '')} into ${target.key}: ${percent} %${retry}`,
    },
    now,
  );
}

export function readyStatus(
  asset: AssetObject,
  target: ImportTarget,
  result: { size: number; sha256: string; location: string },
  now: Date,
): AssetStatus {
  return withReady(
    asset,
    'Ready',
    { progress: 100, location: result.location },
    {
      status: 'True',
      reason: 'Imported',
      message: `${target.key}: ${result.size} bytes, sha256 ${result.sha256}`,
    },
    now,
  );
}

export function failedStatus(asset: AssetObject, error: unknown, now: Date): AssetStatus {
  const reason = failureReason(error);
  const message = failureMessage(error);
  return withReady(
    asset,
    'Failed',
    { progress: asset.status?.progress ?? 0, reason: message },
    { status: 'False', reason, message },
    now,
  );
}

/** Whether writing `next` changes what a reader sees. */
export function assetStatusChanged(current: AssetStatus | undefined, next: AssetStatus): boolean {
  if (!current) return true;
  if (
    current.phase !== next.phase ||
    current.progress !== next.progress ||
    current.location !== next.location ||
    current.lastUsed !== next.lastUsed ||
    current.reason !== next.reason ||
    current.observedGeneration !== next.observedGeneration
  ) {
    return true;
  }
  const a = findCondition(current.conditions, 'Ready');
  const b = findCondition(next.conditions, 'Ready');
  return (
    a?.status !== b?.status ||
    a?.reason !== b?.reason ||
    a?.message !== b?.message ||
    a?.observedGeneration !== b?.observedGeneration
  );
}

/**
 * Whether an update of an Asset concerns its reconciler: a new generation (spec), another object
 * under the same name, or a deletion. Updates of the status alone (the import's own progress
 * writes) do not.
 */
export function specOrLifeChanged(
  old: { metadata: { generation?: number; uid?: string; deletionTimestamp?: string } },
  next: { metadata: { generation?: number; uid?: string; deletionTimestamp?: string } },
): boolean {
  return (
    old.metadata.generation !== next.metadata.generation ||
    old.metadata.uid !== next.metadata.uid ||
    old.metadata.deletionTimestamp !== next.metadata.deletionTimestamp
  );
}
