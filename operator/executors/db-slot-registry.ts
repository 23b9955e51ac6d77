// The executor's slots in the scheduler's database table (db/slots.ts). A heartbeat that finds
// its slots gone (removed while this process was away) registers them again.
import type { OpenDatabase } from '../../db/connect.js';
import { heartbeatSlots, jobsOfSlot, registerSlots, removeSlots } from '../../db/slots.js';
import type { Slot } from '../scheduler/types.js';
import type { SlotRegistry } from './local.js';

export function dbSlotRegistry(database: OpenDatabase, staleAfterMs?: number): SlotRegistry {
  let registered: readonly Slot[] = [];
  return {
    async register(slots) {
      registered = slots;
      await database.transaction((q) => registerSlots(q, slots));
    },
    async heartbeat(ids) {
      const missing = await database.transaction((q) => heartbeatSlots(q, ids, staleAfterMs));
      if (missing.length > 0) {
        const again = registered.filter((s) => missing.includes(s.id));
        await database.transaction((q) => registerSlots(q, again));
      }
    },
    async remove(ids) {
      await database.transaction((q) => removeSlots(q, ids));
    },
    async jobsOfSlot(slotId) {
      return (await jobsOfSlot(database.query, slotId)).map((j) => j.id);
    },
  };
}
