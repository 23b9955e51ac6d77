// Kubernetes Events for what a cluster admin should see (a pod created for a job, a job that
// failed, a pool without nodes). Repeated events on the same object with the same reason and
// message are folded into one with a count, as client-go's recorder does.
import { randomBytes } from 'node:crypto';
import type { Logger } from '../../runtime/logger.js';
import type { KubeClient } from './client.js';

export interface EventTarget {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; uid?: string; resourceVersion?: string };
}

export type EventType = 'Normal' | 'Warning';

interface CoreEvent {
  metadata: { name: string; namespace: string };
  count?: number;
  lastTimestamp?: string;
}

export class EventRecorder {
  private readonly recent = new Map<string, { name: string; namespace: string; count: number }>();

  constructor(
    private readonly client: KubeClient,
    private readonly component: string,
    private readonly log?: Logger,
  ) {}

  /** Record an event; never throws (events are best effort). */
  async record(target: EventTarget, type: EventType, reason: string, message: string): Promise<void> {
    const namespace = target.metadata.namespace ?? 'default';
    const key = `${target.kind}/${namespace}/${target.metadata.name}/${target.metadata.uid ?? ''}/${type}/${reason}/${message}`;
    const now = new Date().toISOString().replace(/\.\d{3}Z$/, 'Z');
    try {
      const seen = this.recent.get(key);
      if (seen) {
        seen.count++;
        await this.client.patch<CoreEvent>(`/api/v1/namespaces/${seen.namespace}/events/${seen.name}`, {
          count: seen.count,
          lastTimestamp: now,
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
        message: message.slice(0, 1024),
        source: { component: this.component },
        reportingComponent: this.component,
        reportingInstance: this.component,
        firstTimestamp: now,
        lastTimestamp: now,
        count: 1,
      });
      if (this.recent.size > 4096) this.recent.clear();
      this.recent.set(key, { name, namespace, count: 1 });
    } catch (error) {
      this.log?.warn({ reason, err: (error as Error).message }, 'could not record event');
    }
  }
}
