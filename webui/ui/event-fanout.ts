// One LISTEN per server for job events, fanned out to every open page's websocket. Pages treat an
// event as a hint to re-read what they show (see db/job-events.ts).
import type { OpenDatabase } from '../../db/connect.js';
import {
  publishUiEvents,
  subscribeJobEvents,
  UI_EVENTS_CHANNEL,
  type UiJobEvent,
} from '../../db/job-events.js';
import type { LiveSocket } from './live-hub.js';

export class EventFanout {
  private readonly sockets = new Set<LiveSocket>();
  private stop?: () => Promise<void>;

  constructor(
    private readonly onEvent: (event: { type: string; id?: number } & Record<string, unknown>) => void,
  ) {}

  async start(database: OpenDatabase): Promise<void> {
    const stopJobs = await subscribeJobEvents(database, (event) => this.deliver(event));
    const stopUi = await database.listen(UI_EVENTS_CHANNEL, (payload) => {
      try {
        this.deliver(JSON.parse(payload) as UiJobEvent);
      } catch {
        // not ours
      }
    });
    this.stop = async () => {
      await stopJobs();
      await stopUi();
    };
  }

  private deliver(event: object): void {
    this.onEvent(event as { type: string });
    const text = JSON.stringify(event);
    for (const socket of this.sockets) if (socket.readyState === 1) socket.send(text);
  }

  add(socket: LiveSocket): () => void {
    this.sockets.add(socket);
    return () => this.sockets.delete(socket);
  }

  get size(): number {
    return this.sockets.size;
  }

  async close(): Promise<void> {
    await this.stop?.();
  }
}

/** Announce a UI event to every server (committed with the query's transaction, if any). */
export async function publishUiEvent(database: OpenDatabase, event: UiJobEvent): Promise<void> {
  await publishUiEvents(database.query, [event]);
}
