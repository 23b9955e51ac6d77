// The scheduler's slots on a cluster: each Worker pool offers maxJobs slots with its classes.
// A slot that still holds a job stays while its job runs, even after the pool shrank. Pure.
import type { Slot } from '../scheduler/types.js';

export interface PoolView {
  metadata: { name: string; namespace?: string };
  spec: { workerClasses: string[]; maxJobs?: number };
}

export function slotId(namespace: string, pool: string, index: number): string {
  return `${namespace}/${pool}/${index}`;
}

/** Parse a slot id back into its pool; undefined for ids that are not pool slots. */
export function parseSlotId(id: string): { namespace: string; pool: string; index: number } | undefined {
  const match = /^([a-z0-9-]+)\/([a-z0-9.-]+)\/(\d+)$/.exec(id);
  return match ? { namespace: match[1]!, pool: match[2]!, index: Number(match[3]) } : undefined;
}

/**
 * Slots of all pools. `busySlotIds` are slots whose jobs still run; they are kept (with the
 * classes of their pool) when the pool has shrunk below them, so the scheduler does not lose
 * track of running work. Slots on the cluster are never stale by silence: pod outcomes end jobs.
 */
export function poolSlots(pools: readonly PoolView[], busySlotIds: ReadonlySet<string>, now: number): Slot[] {
  const slots: Slot[] = [];
  for (const pool of pools) {
    const namespace = pool.metadata.namespace ?? 'default';
    const classes = [...new Set(pool.spec.workerClasses)].sort();
    const max = pool.spec.maxJobs ?? 1;
    for (let i = 0; i < max; i++) {
      slots.push({
        id: slotId(namespace, pool.metadata.name, i),
        pool: `${namespace}/${pool.metadata.name}`,
        classes,
        lastSeen: now,
      });
    }
    for (const id of busySlotIds) {
      const parsed = parseSlotId(id);
      if (
        parsed &&
        parsed.namespace === namespace &&
        parsed.pool === pool.metadata.name &&
        parsed.index >= max
      ) {
        slots.push({ id, pool: `${namespace}/${pool.metadata.name}`, classes, lastSeen: now });
      }
    }
  }
  return slots;
}
