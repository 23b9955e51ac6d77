// Which cached assets a node's cache removes to make room for a new one: least recently used
// first, never one in use, until the cache stays under its size limit and the disk keeps its
// minimum free share. Pure: the cache gathers the facts and carries the plan out.

export interface CachedEntry {
  name: string;
  size: number;
  /** ms since the epoch of the last time a job asked for it. */
  lastUse: number;
  /** Linked into a running job (or locked): never evicted. */
  inUse: boolean;
}

export interface EvictionInput {
  entries: readonly CachedEntry[];
  /** CACHELIMIT in bytes. */
  limitBytes: number;
  /** Size of what is about to be added (0 to just enforce the limits). */
  incomingBytes: number;
  /** The filesystem of the cache; omit to ignore free space. */
  disk?: { totalBytes: number; freeBytes: number };
  /** Share of the disk that must stay free, 0–100. */
  minFreePercent: number;
}

export type EvictionPlan =
  | { fits: true; evict: string[]; freedBytes: number }
  | { fits: false; evict: string[]; freedBytes: number; reason: string };

/** Oldest use first; equal times by name so the order is stable. */
export function lruOrder(entries: readonly CachedEntry[]): CachedEntry[] {
  return [...entries].sort(
    (a, b) => a.lastUse - b.lastUse || (a.name < b.name ? -1 : a.name > b.name ? 1 : 0),
  );
}

export function planEviction(input: EvictionInput): EvictionPlan {
  const used = input.entries.reduce((sum, e) => sum + e.size, 0);
  const overLimit = used + input.incomingBytes - input.limitBytes;
  let shortOfFree = 0;
  if (input.disk) {
    const mustStayFree = (input.disk.totalBytes * input.minFreePercent) / 100;
    shortOfFree = mustStayFree - (input.disk.freeBytes - input.incomingBytes);
  }
  const needed = Math.max(0, overLimit, shortOfFree);
  const evict: string[] = [];
  let freedBytes = 0;
  if (input.incomingBytes > input.limitBytes) {
    return {
      fits: false,
      evict,
      freedBytes,
      reason: `the asset (${formatBytes(input.incomingBytes)}) is larger than the cache limit (${formatBytes(input.limitBytes)})`,
    };
  }
  for (const entry of lruOrder(input.entries)) {
    if (freedBytes >= needed) break;
    if (entry.inUse) continue;
    evict.push(entry.name);
    freedBytes += entry.size;
  }
  if (freedBytes >= needed) return { fits: true, evict, freedBytes };
  const inUse = input.entries.filter((e) => e.inUse).reduce((sum, e) => sum + e.size, 0);
  const what =
    shortOfFree >= overLimit
      ? `the disk would have less than ${input.minFreePercent}% free`
      : `the cache would exceed its limit of ${formatBytes(input.limitBytes)}`;
  return {
    fits: false,
    evict,
    freedBytes,
    reason: `${what} even after evicting every unused asset (${formatBytes(needed - freedBytes)} short; ${formatBytes(inUse)} held by running jobs)`,
  };
}

export function formatBytes(bytes: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let value = bytes;
  let unit = 0;
  while (Math.abs(value) >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit += 1;
  }
  return `${unit === 0 ? value : value.toFixed(1)} ${units[unit]}`;
}
