// Kubernetes Events for what a cluster admin should see (a pod created for a job, a job that
// failed, a pool without nodes). Recording never waits on the apiserver: `record` puts the event
// into a bounded queue that one sender drains in order, so a burst of pod creations does not wait
// on (or compete much with) its Events. As client-go's EventRecorder does:
// - the same event (object, type, reason, message) again is counted: a queued one gets its count
//   raised, an already written one is patched with the new count and lastTimestamp;
// - more than `similarLimit` (10) events of one object with the same type and reason but other
//   messages within `similarWindowMs` (10 min) are combined into one event
//   "(combined from similar events): <latest message>" whose count grows.
// When the queue is full the event is dropped and counted (`onDropped`, the
// kubeqa_events_dropped_total metric). The decisions (`EventAggregator`) are pure.
import { randomBytes } from 'node:crypto';
import type { Logger } from '../../runtime/logger.js';
import type { KubeClient } from './client.js';

export interface EventTarget {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; uid?: string; resourceVersion?: string };
}

export type EventType = 'Normal' | 'Warning';

export interface EventRecorderOptions {
  log?: Logger;
  /** Events waiting to be sent at most; more are dropped (default 1000). */
  queueLimit?: number;
  /** Distinct messages of one object, type and reason before they are combined (default 10). */
  similarLimit?: number;
  /** The window in which similar events count towards `similarLimit` (default 10 min). */
  similarWindowMs?: number;
  /** Called for each dropped event (a full queue). */
  onDropped?: (reason: string) => void;
  now?: () => number;
}

const COMBINED_PREFIX = '(combined from similar events): ';

/** What to do with one event: write a new Event, or raise the count of one already written or queued. */
export type EventDecision =
  | { kind: 'create'; key: string; message: string }
  | { kind: 'count'; key: string; message: string };

/**
 * The recorder's memory and decisions, without I/O: which events are the same (counted), which
 * are similar enough to be combined, and when entries are forgotten.
 */
export class EventAggregator {
  /** Event key → how often it was recorded. */
  private readonly counts = new Map<string, number>();
  /** Aggregate key (object, type, reason) → the distinct messages seen in the window, and since when. */
  private readonly similar = new Map<string, { messages: Set<string>; since: number }>();

  constructor(
    private readonly similarLimit = 10,
    private readonly windowMs = 10 * 60_000,
    private readonly maxEntries = 4096,
  ) {}

  decide(objectKey: string, type: string, reason: string, message: string, now: number): EventDecision {
    const aggregateKey = `${objectKey}/${type}/${reason}`;
    let group = this.similar.get(aggregateKey);
    if (!group || now - group.since > this.windowMs) {
      group = { messages: new Set(), since: now };
      if (this.similar.size >= this.maxEntries) this.similar.clear();
      this.similar.set(aggregateKey, group);
    }
    group.messages.add(message);
    const combined = group.messages.size > this.similarLimit;
    const key = combined ? `${aggregateKey}/combined` : `${aggregateKey}/${message}`;
    const text = combined ? `${COMBINED_PREFIX}${message}` : message;
    const seen = this.counts.get(key);
    if (seen !== undefined) {
      this.counts.set(key, seen + 1);
      return { kind: 'count', key, message: text };
    }
    if (this.counts.size >= this.maxEntries) this.counts.clear();
    this.counts.set(key, 1);
    return { kind: 'create', key, message: text };
  }

  count(key: string): number {
    return this.counts.get(key) ?? 0;
  }

  /** Forget an event whose write failed (the next one of its kind is written anew). */
  forget(key: string): void {
    this.counts.delete(key);
  }
}

interface Pending {
  key: string;
  target: EventTarget;
  type: EventType;
  reason: string;
  message: string;
  at: string;
}

export class EventRecorder {
  private readonly aggregator: EventAggregator;
  /** Events waiting to be sent, by key (a repeat while queued only raises the count). */
  private readonly queue = new Map<string, Pending>();
  /** Written events: key → where. */
  private readonly written = new Map<string, { name: string; namespace: string }>();
  private sending: Promise<void> | undefined;
  private readonly limit: number;
  private readonly now: () => number;
  private readonly opts: EventRecorderOptions;

  constructor(
    private readonly client: KubeClient,
    private readonly component: string,
    options: EventRecorderOptions = {},
  ) {
    this.opts = options;
    this.aggregator = new EventAggregator(this.opts.similarLimit, this.opts.similarWindowMs);
    this.limit = this.opts.queueLimit ?? 1000;
    this.now = this.opts.now ?? Date.now;
  }

  /** Events waiting to be sent. */
  get pending(): number {
    return this.queue.size;
  }

  /**
   * Records an event: queued, never waits on the apiserver and never throws (events are best
   * effort). The returned promise is already resolved; `flush()` waits for the queue to drain.
   */
  record(target: EventTarget, type: EventType, reason: string, message: string): Promise<void> {
    const namespace = target.metadata.namespace ?? 'default';
    const objectKey = `${target.kind}/${namespace}/${target.metadata.name}/${target.metadata.uid ?? ''}`;
    const decision = this.aggregator.decide(objectKey, type, reason, message.slice(0, 1024), this.now());
    const at = new Date(this.now()).toISOString().replace(/\.\d{3}Z$/, 'Z');
    const queued = this.queue.get(decision.key);
    if (queued) {
      // still waiting: the write it gets carries the higher count
      queued.message = decision.message;
      queued.at = at;
    } else if (this.queue.size >= this.limit) {
      this.opts.onDropped?.(reason);
      this.opts.log?.debug({ reason }, 'event dropped: the event queue is full');
    } else {
      this.queue.set(decision.key, {
        key: decision.key,
        target,
        type,
        reason,
        message: decision.message,
        at,
      });
      this.kick();
    }
    return Promise.resolve();
  }

  /** Resolves once every queued event was sent (or failed). */
  async flush(): Promise<void> {
    while (this.sending) await this.sending;
  }

  private kick(): void {
    if (this.sending) return;
    this.sending = this.drain().finally(() => {
      this.sending = undefined;
      if (this.queue.size > 0) this.kick();
    });
  }

  private async drain(): Promise<void> {
    for (;;) {
      const next = this.queue.values().next();
      if (next.done) return;
      const event = next.value;
      this.queue.delete(event.key);
      await this.send(event);
    }
  }

  private async send(event: Pending): Promise<void> {
    const { target, type, reason } = event;
    const namespace = target.metadata.namespace ?? 'default';
    const count = Math.max(1, this.aggregator.count(event.key));
    try {
      const seen = this.written.get(event.key);
      if (seen) {
        await this.client.patch(`/api/v1/namespaces/${seen.namespace}/events/${seen.name}`, {
          count,
          message: event.message,
          lastTimestamp: event.at,
        });
        return;
      }
      const name = `${target.metadata.name}.${randomBytes(8).toString('hex')}`;
      await this.client.create(`/api/v1/namespaces/${namespace}/events`, {
        apiVersion: 'v1',
        kind: 'Event',
        metadata: { name, namespace },
        involvedObject: {
          apiVersion: target.apiVersion,
          kind: target.kind,
          name: target.metadata.name,
          namespace,
          uid: target.metadata.uid,
          resourceVersion: target.metadata.resourceVersion,
        },
        type,
        reason,
        message: event.message,
        source: { component: this.component },
        reportingComponent: this.component,
        reportingInstance: this.component,
        firstTimestamp: event.at,
        lastTimestamp: event.at,
        count,
      });
      if (this.written.size > 4096) this.written.clear();
      this.written.set(event.key, { name, namespace });
    } catch (error) {
      this.aggregator.forget(event.key);
      this.written.delete(event.key);
      this.opts.log?.warn({ reason, err: (error as Error).message }, 'could not record event');
    }
  }
}
