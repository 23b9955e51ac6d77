// One LISTEN connection per PostgreSQL pool, shared by every listener of the process (the
// scheduler's job and UI channels, the executors, the web UI's fan-out…): PostgreSQL delivers the
// notifications of all channels a session listens on over that session, so one connection does
// for all of them. A lost connection is re-established with a doubling delay (100 ms … 5 s); the
// channels are listened on again and every subscriber's `onReconnect` runs, since notifications
// sent meanwhile are lost.
import pg from 'pg';

export interface Subscriber {
  onPayload: (payload: string) => void;
  onReconnect?: () => void;
}

export class SharedListener {
  private readonly channels = new Map<string, Set<Subscriber>>();
  private client: pg.Client | null = null;
  /** Channels LISTENed on the current client. */
  private listened = new Set<string>();
  /** Connecting, listening and unlistening happen one at a time, in order. */
  private queue: Promise<void> = Promise.resolve();
  private delay = 100;
  private closed = false;

  constructor(private readonly url: string) {}

  /** Listens on `channel` (resolves once listening); the function it returns stops it. */
  async subscribe(channel: string, subscriber: Subscriber): Promise<() => Promise<void>> {
    const set = this.channels.get(channel) ?? new Set<Subscriber>();
    this.channels.set(channel, set);
    set.add(subscriber);
    try {
      await this.serially(() => this.sync());
    } catch (error) {
      this.remove(channel, subscriber);
      throw error;
    }
    let stopped = false;
    return async () => {
      if (stopped) return;
      stopped = true;
      this.remove(channel, subscriber);
      await this.serially(() => this.sync()).catch(() => undefined);
    };
  }

  /** Ends the connection for good. */
  async close(): Promise<void> {
    this.closed = true;
    this.channels.clear();
    await this.serially(() => this.sync()).catch(() => undefined);
  }

  private remove(channel: string, subscriber: Subscriber): void {
    const set = this.channels.get(channel);
    set?.delete(subscriber);
    if (set?.size === 0) this.channels.delete(channel);
  }

  private serially(step: () => Promise<void>): Promise<void> {
    const run = this.queue.then(step);
    this.queue = run.catch(() => undefined);
    return run;
  }

  /** Brings the connection in line with the wanted channels: connect, LISTEN, UNLISTEN, end. */
  private async sync(): Promise<void> {
    if (this.channels.size === 0) {
      const client = this.client;
      this.client = null;
      this.listened = new Set();
      await client?.end().catch(() => undefined);
      return;
    }
    if (!this.client) await this.connect();
    const client = this.client as pg.Client | null;
    if (!client) return;
    for (const channel of this.channels.keys()) {
      if (this.listened.has(channel)) continue;
      await client.query(`listen ${pg.escapeIdentifier(channel)}`);
      this.listened.add(channel);
    }
    for (const channel of [...this.listened]) {
      if (this.channels.has(channel)) continue;
      await client.query(`unlisten ${pg.escapeIdentifier(channel)}`);
      this.listened.delete(channel);
    }
  }

  private async connect(): Promise<void> {
    const next = new pg.Client({ connectionString: this.url });
    next.on('notification', (message) => {
      for (const subscriber of this.channels.get(message.channel) ?? [])
        subscriber.onPayload(message.payload ?? '');
    });
    next.on('error', () => undefined);
    next.on('end', () => {
      if (this.client !== next) return;
      this.client = null;
      this.listened = new Set();
      this.reconnectLater();
    });
    await next.connect();
    this.client = next;
  }

  private reconnectLater(): void {
    const retry = (): void => {
      if (this.closed || this.channels.size === 0) return;
      this.serially(() => this.sync()).then(
        () => {
          this.delay = 100;
          for (const set of [...this.channels.values()])
            for (const subscriber of [...set]) subscriber.onReconnect?.();
        },
        () => {
          const client = this.client;
          this.client = null;
          this.listened = new Set();
          client?.end().catch(() => undefined);
          this.delay = Math.min(this.delay * 2, 5000);
          setTimeout(retry, this.delay).unref();
        },
      );
    };
    setTimeout(retry, this.delay).unref();
  }
}
