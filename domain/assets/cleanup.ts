// Which assets the store's cleanup deletes, with openQA's rules: each job group keeps its most
// recently used assets up to its size limit; an asset survives if any of its groups keeps it;
// fixed assets and assets of pending (scheduled or running) jobs are never deleted; assets that
// belong to no group are kept for a grace period after their last use; files in the store that
// no asset record names are orphans. Pure: the server gathers the rows and deletes what this says.

export interface CleanupAsset {
  id: string;
  size: number;
  groups: readonly number[];
  fixed: boolean;
  /** Used by a job that has not finished yet. */
  pending: boolean;
  /** ms since the epoch; undefined if never used. */
  lastUse?: number;
  /** ms since the epoch. */
  createdAt: number;
}

export interface CleanupInput {
  assets: readonly CleanupAsset[];
  /** Size limit in bytes per job group; a group without an entry keeps all its assets. */
  groupLimits: ReadonlyMap<number, number>;
  /** How long an asset of no group is kept after its last use (or creation). */
  untrackedMaxAgeMs: number;
  now: number;
}

export interface CleanupDecision {
  delete: { id: string; reason: string }[];
  /** Bytes each group keeps after the cleanup (pending and fixed assets included). */
  keptBytesByGroup: Map<number, number>;
}

function recency(asset: CleanupAsset): number {
  return asset.lastUse ?? asset.createdAt;
}

export function selectAssetsToDelete(input: CleanupInput): CleanupDecision {
  const keptBy = new Map<string, number[]>();
  const overLimitOf = new Map<string, number[]>();
  const keptBytesByGroup = new Map<number, number>();
  const groups = new Set(input.assets.flatMap((a) => a.groups));
  for (const group of groups) {
    const limit = input.groupLimits.get(group);
    const members = input.assets.filter((a) => a.groups.includes(group));
    // Assets that stay whatever happens count first, then the newest.
    const protectedFirst = [...members].sort(
      (a, b) =>
        Number(b.pending || b.fixed) - Number(a.pending || a.fixed) ||
        recency(b) - recency(a) ||
        (a.id < b.id ? -1 : 1),
    );
    let kept = 0;
    let full = false;
    for (const asset of protectedFirst) {
      const mustKeep = asset.pending || asset.fixed;
      if (mustKeep || (!full && (limit === undefined || kept + asset.size <= limit))) {
        kept += asset.size;
        keptBy.set(asset.id, [...(keptBy.get(asset.id) ?? []), group]);
      } else {
        full = true; // strictly by recency: nothing older is kept once one asset did not fit
        overLimitOf.set(asset.id, [...(overLimitOf.get(asset.id) ?? []), group]);
      }
    }
    keptBytesByGroup.set(group, kept);
  }
  const deletions: { id: string; reason: string }[] = [];
  for (const asset of input.assets) {
    if (asset.fixed || asset.pending) continue;
    if (asset.groups.length === 0) {
      const age = input.now - recency(asset);
      if (age > input.untrackedMaxAgeMs) {
        deletions.push({
          id: asset.id,
          reason: `belongs to no job group and was last used ${Math.floor(age / 3_600_000)} h ago`,
        });
      }
      continue;
    }
    if (!keptBy.has(asset.id)) {
      const over = overLimitOf.get(asset.id) ?? [];
      deletions.push({ id: asset.id, reason: `over the size limit of job group(s) ${over.join(', ')}` });
    }
  }
  return { delete: deletions, keptBytesByGroup };
}

/** Store objects that no asset record names, older than the grace period (an import may be running). */
export function orphanedObjects(
  objects: readonly { key: string; lastModified: number }[],
  registeredKeys: ReadonlySet<string>,
  now: number,
  graceMs: number,
): string[] {
  return objects
    .filter((o) => !registeredKeys.has(o.key) && now - o.lastModified > graceMs)
    .map((o) => o.key);
}
