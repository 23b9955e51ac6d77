// The executor's slots in the scheduler's database table (db/slots.ts): the one SlotRegistry
// (operator/executors/slot-registry.ts), under the name `kubeqa up` and its tests use.
import type { OpenDatabase } from '../../db/connect.js';
import { PgSlotRegistry, type SlotRegistry } from './slot-registry.js';

export function dbSlotRegistry(database: OpenDatabase, staleAfterMs?: number): SlotRegistry {
  return new PgSlotRegistry(database, staleAfterMs);
}
