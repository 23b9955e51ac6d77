// Where the executor offers its slots to the scheduler: the `slots` table the PostgreSQL
// scheduler store reads. `sync` makes the table's slots of this executor exactly `slots`
// (upserted with a fresh last_seen, which is also the heartbeat) and wakes the scheduler.
import type { OpenDatabase } from '../../db/connect.js';
import { SCHEDULER_CHANNEL } from '../../db/job-events.js';
import type { Slot } from '../scheduler/types.js';

export interface SlotRegistry {
  /** Makes this executor's slots (those `owns` accepts) exactly `slots`. */
  sync(slots: readonly Slot[], owns: (id: string) => boolean): Promise<void>;
}

export class PgSlotRegistry implements SlotRegistry {
  private lastShape = '';

  constructor(private readonly database: OpenDatabase) {}

  async sync(slots: readonly Slot[], owns: (id: string) => boolean): Promise<void> {
    await this.database.transaction(async (q) => {
      const rows = await q<{ id: string }>('select id from slots');
      const wanted = new Set(slots.map((s) => s.id));
      const gone = rows.map((r) => r.id).filter((id) => owns(id) && !wanted.has(id));
      if (gone.length > 0) await q('delete from slots where id = any($1::text[])', [gone]);
      if (slots.length > 0) {
        await q(
          `insert into slots (id, pool, classes, last_seen)
           select x.id, x.pool, string_to_array(x.classes, ','), now()
             from unnest($1::text[], $2::text[], $3::text[]) as x(id, pool, classes)
           on conflict (id) do update set pool = excluded.pool, classes = excluded.classes, last_seen = now()`,
          [slots.map((s) => s.id), slots.map((s) => s.pool), slots.map((s) => s.classes.join(','))],
        );
      }
      const shape = JSON.stringify(slots.map((s) => [s.id, s.classes]));
      if (shape !== this.lastShape || gone.length > 0) {
        this.lastShape = shape;
        await q('select pg_notify($1, $2)', [SCHEDULER_CHANNEL, 'slot-changed']);
      }
    });
  }
}
