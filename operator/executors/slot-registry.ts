// Where the executor offers its slots to the scheduler: the `slots` table (db/slots.ts) the
// PostgreSQL scheduler store reads. `sync` makes the table's slots of this executor exactly
// `slots`: new or changed ones registered (which wakes the scheduler), vanished ones removed,
// the rest heartbeated (so they never go stale while the operator runs).
import type { OpenDatabase } from '../../db/connect.js';
import { heartbeatSlots, registerSlots, removeSlots } from '../../db/slots.js';
import type { Slot } from '../scheduler/types.js';

export interface SlotRegistry {
  /** Makes this executor's slots (those `owns` accepts) exactly `slots`. */
  sync(slots: readonly Slot[], owns: (id: string) => boolean): Promise<void>;
}

export class PgSlotRegistry implements SlotRegistry {
  constructor(private readonly database: OpenDatabase) {}

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
      const missing = await heartbeatSlots(q, same);
      await registerSlots(
        q,
        slots.filter((s) => missing.includes(s.id)),
      );
    });
  }
}
