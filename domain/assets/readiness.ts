// Whether a job's assets are ready, and if not, the reason the job shows while it waits in
// `setup` (e.g. "waiting for asset iso/foo.iso: importing, 45 % of 4.0 GiB"). Pure: the scheduler
// passes the asset records it read; the operator writes the reason into the Job's status.
import { formatBytes } from './eviction.js';
import type { Asset, AssetType } from './types.js';

export interface RequiredAsset {
  type: AssetType;
  name: string;
}

export interface ImportState {
  /** Bytes stored so far by a running import. */
  bytes?: number;
}

export type Readiness =
  | { ready: true }
  | { ready: false; failed: boolean; reason: string; waitingFor: RequiredAsset[] };

export function assetReadiness(
  required: readonly RequiredAsset[],
  records: readonly (Pick<Asset, 'type' | 'name' | 'state' | 'size' | 'reason'> & ImportState)[],
): Readiness {
  const waiting: RequiredAsset[] = [];
  const reasons: string[] = [];
  let failed = false;
  for (const need of required) {
    const record = records.find((r) => r.type === need.type && r.name === need.name);
    const label = `${need.type}/${need.name}`;
    if (!record) {
      waiting.push(need);
      reasons.push(`${label} is not registered`);
      continue;
    }
    if (record.state === 'ready') continue;
    waiting.push(need);
    if (record.state === 'failed') {
      failed = true;
      reasons.push(`${label} failed: ${record.reason ?? 'unknown reason'}`);
    } else if (record.state === 'importing' && record.bytes !== undefined) {
      const share = record.size
        ? `, ${Math.floor((100 * record.bytes) / record.size)} % of ${formatBytes(record.size)}`
        : `, ${formatBytes(record.bytes)} so far`;
      reasons.push(`${label}: importing${share}`);
    } else {
      reasons.push(`${label}: ${record.state}`);
    }
  }
  if (waiting.length === 0) return { ready: true };
  return {
    ready: false,
    failed,
    reason: `${failed ? 'asset failed' : 'waiting for assets'}: ${reasons.join('; ')}`,
    waitingFor: waiting,
  };
}
