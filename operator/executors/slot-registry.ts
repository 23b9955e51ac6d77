// Where an executor offers its slots to the scheduler: the `slots` table (db/slots.ts) the
// PostgreSQL scheduler store reads. One interface for both executors:
// - the local executor (`kubeqa up`) registers its fixed slots, heartbeats them and removes them
//   when it stops, and asks which jobs a slot still holds from an earlier run;
// - the Kubernetes executor `sync`s the pools' slots: new or changed ones registered (which
//   wakes the scheduler), vanished ones removed, the rest heartbeated (so they never go stale
//   while the operator runs).
// A heartbeat that finds slots gone (removed while this process was away) registers them again.
import type { OpenDatabase } from '../../db/connect.js';
import { heartbeatSlots, jobsOfSlot, registerSlots, removeSlots } from '../../db/slots.js';
import type { Slot } from '../scheduler/types.js';

export interface SlotRegistry {
  /** Registers (or updates) these slots. */
  register(slots: readonly Slot[]): Promise<void>;
  /** Keeps these slots alive; ones gone from the store are registered again. */
  heartbeat(slotIds: readonly string[]): Promise<void>;
  remove(slotIds: readonly string[]): Promise<void>;
  /** Jobs a slot still holds (from an earlier run of this process), if the store can tell. */
  jobsOfSlot?(slotId: string): Promise<readonly number[]>;
  /** Makes this executor's slots (those `owns` accepts) exactly `slots`. */
  sync(slots: readonly Slot[], owns: (id: string) => boolean): Promise<void>;
}

export class PgSlotRegistry implements SlotRegistry {
  /** The slots last registered, for registering again those a heartbeat finds gone. */
  private registered: readonly Slot[] = [];

  constructor(
    private readonly database: OpenDatabase,
    private readonly staleAfterMs?: number,
  ) {}

  async register(slots: readonly Slot[]): Promise<void> {
    this.registered = slots;
    await this.database.transaction((q) => registerSlots(q, slots));
  }

  async heartbeat(slotIds: readonly string[]): Promise<void> {
    const missing = await this.database.transaction((q) => heartbeatSlots(q, slotIds, this.staleAfterMs));
    if (missing.length > 0) {
      const again = this.registered.filter((s) => missing.includes(s.id));
      await this.database.transaction((q) => registerSlots(q, again));
    }
  }

  async remove(slotIds: readonly string[]): Promise<void> {
    await this.database.transaction((q) => removeSlots(q, slotIds));
  }

  async jobsOfSlot(slotId: string): Promise<readonly number[]> {
    return (await jobsOfSlot(this.database.query, slotId)).map((j) => j.id);
  }

  async sync(slots: readonly Slot[], owns: (id: string) => boolean): Promise<void> {
    await this.database.transaction(async (q) => {
      const rows = await q<{ id: string; pool: string; classes: string[] }>(
        'select id, pool, classes from slots',
      );
      const existing = new Map(rows.filter((r) => owns(r.id)).map((r) => [r.id, r]));
      const wanted = new Set(slots.map((s) => s.id));
      await removeSlots(
        q,
        [...existing.keys()].filter((id) => !wanted.has(id)),
      );
      const changed = slots.filter((s) => {
        const row = existing.get(s.id);
        return (
          !row || row.pool !== s.pool || [...row.classes].sort().join(',') !== [...s.classes].sort().join(',')
        );
      });
      await registerSlots(q, changed);
      const same = slots.filter((s) => !changed.includes(s)).map((s) => s.id);
      const missing = await heartbeatSlots(q, same, this.staleAfterMs);
      await registerSlots(
        q,
        slots.filter((s) => missing.includes(s.id)),
      );
    });
  }
}
