// Job events: how the rest of kubeqa learns that jobs were created, changed state or result,
// or were deleted — without polling.
//
// Writers call `publishJobEvents(query, events)` with the query function of the SAME transaction
// that wrote the change: PostgreSQL delivers NOTIFY only when that transaction commits, so a
// listener never sees an event for a change that was rolled back, and every committed change
// is announced exactly once. The payload is JSON (one event, or several job ids of one kind),
// kept below PostgreSQL's 8000-byte NOTIFY limit by splitting.
//
// Each transaction also wakes the scheduler: NOTIFY kubeqa_scheduler with `job-created`,
// `job-finished` or `job-changed` (PostgreSQL folds identical notifications of a transaction).
//
// Readers call `subscribeJobEvents(database, handler)`; it works on PostgreSQL and on PGlite
// (both implement LISTEN/NOTIFY). Events are hints to re-read the database, not the record:
// after a reconnect a subscriber should re-read what it cares about.
import type { ListenOptions, OpenDatabase, QueryFn } from './connect.js';

export const JOB_EVENTS_CHANNEL = 'kubeqa_job_events';
/** The scheduler's wake-up channel (docs/scheduler.md): payloads job-created, job-finished, job-changed. */
export const SCHEDULER_CHANNEL = 'kubeqa_scheduler';

/** The scheduler's name for what an event means to it. */
export function schedulerEvent(event: JobEvent): 'job-created' | 'job-finished' | 'job-changed' {
  if (event.type === 'job.created') return 'job-created';
  if (event.type === 'job.state' && (event.state === 'done' || event.state === 'cancelled'))
    return 'job-finished';
  return 'job-changed';
}

/** Changes that are not job state changes (comments, priority): their own channel, so that the
 * webhook sees only job events. The web UI's pages and the scheduler (priority) listen to it. */
export const UI_EVENTS_CHANNEL = 'kubeqa_ui_events';
export type UiJobEvent = { type: 'job.comment' | 'job.priority'; id: number };

/** Announces UI events (delivered when the query's transaction commits, if any). */
export async function publishUiEvents(q: QueryFn, events: readonly UiJobEvent[]): Promise<void> {
  if (events.length === 0) return;
  await q('select pg_notify($1, payload) from unnest($2::text[]) as payload', [
    UI_EVENTS_CHANNEL,
    events.map((event) => JSON.stringify(event)),
  ]);
}

export type JobEvent =
  | { type: 'job.created'; ids: number[] }
  | { type: 'job.deleted'; ids: number[] }
  | { type: 'job.state'; id: number; state: string; result: string; reason?: string | null };

const MAX_PAYLOAD = 7000;

/** Splits events so that each NOTIFY payload stays under the limit. */
export function eventPayloads(events: readonly JobEvent[]): string[] {
  const out: string[] = [];
  for (const event of events) {
    if (event.type === 'job.state') {
      out.push(JSON.stringify(event));
      continue;
    }
    let chunk: number[] = [];
    let size = 40;
    for (const id of event.ids) {
      const len = String(id).length + 1;
      if (size + len > MAX_PAYLOAD && chunk.length > 0) {
        out.push(JSON.stringify({ type: event.type, ids: chunk }));
        chunk = [];
        size = 40;
      }
      chunk.push(id);
      size += len;
    }
    if (chunk.length > 0) out.push(JSON.stringify({ type: event.type, ids: chunk }));
  }
  return out;
}

/** Announces events; call inside the transaction that made the change. */
export async function publishJobEvents(
  query: QueryFn,
  events: readonly JobEvent[],
  options: { wakeScheduler?: boolean } = {},
): Promise<void> {
  const payloads = eventPayloads(events);
  if (payloads.length === 0) return;
  const wakeups = options.wakeScheduler === false ? [] : [...new Set(events.map(schedulerEvent))];
  await query(
    `select pg_notify($1, p) from unnest($2::text[]) as p
     union all select pg_notify($3, w) from unnest($4::text[]) as w`,
    [JOB_EVENTS_CHANNEL, payloads, SCHEDULER_CHANNEL, wakeups],
  );
}

/** Calls `handler` for every committed job event until the returned function is called. */
export async function subscribeJobEvents(
  database: OpenDatabase,
  handler: (event: JobEvent) => void,
  options?: ListenOptions,
): Promise<() => Promise<void>> {
  return database.listen(
    JOB_EVENTS_CHANNEL,
    (payload) => {
      try {
        handler(JSON.parse(payload) as JobEvent);
      } catch {
        // a malformed payload is not ours; ignore it
      }
    },
    options,
  );
}
