// Leader election on a coordination.k8s.io/v1 Lease, as client-go does it:
// - a candidate takes the lease when it does not exist, is released (no holder), or has not been
//   renewed for leaseDuration as observed on the candidate's own clock (no clock-skew trust);
// - the leader renews every retryPeriod; if it cannot renew within renewDeadline it stops leading;
// - writes carry the lease's resourceVersion, so two candidates never both win;
// - on a graceful stop the leader releases the lease so a successor takes over at once.
// Defaults: lease 15 s, renew deadline 10 s, retry 2 s.
import type { Logger } from '../../runtime/logger.js';
import { KubeApiError, type KubeClient } from '../kube/client.js';

export interface LeaderElectionOptions {
  namespace: string;
  name: string;
  identity: string;
  leaseDurationMs?: number;
  renewDeadlineMs?: number;
  retryPeriodMs?: number;
  log?: Logger;
  onStartedLeading: () => void;
  onStoppedLeading: () => void;
}

interface Lease {
  apiVersion: 'coordination.k8s.io/v1';
  kind: 'Lease';
  metadata: { name: string; namespace: string; resourceVersion?: string };
  spec: {
    holderIdentity?: string | null;
    leaseDurationSeconds?: number;
    acquireTime?: string | null;
    renewTime?: string | null;
    leaseTransitions?: number;
  };
}

/** RFC 3339 with microseconds, as the Lease API's MicroTime wants. */
function microTime(date: Date): string {
  return date.toISOString().replace(/\.(\d{3})Z$/, '.$1000Z');
}

export class LeaderElector {
  private leading = false;
  private stopped = false;
  private observedRecord = '';
  private observedAt = 0;
  private loop: Promise<void> | undefined;
  private wake: (() => void) | undefined;
  private readonly leaseMs: number;
  private readonly renewDeadlineMs: number;
  private readonly retryMs: number;

  constructor(
    private readonly client: KubeClient,
    private readonly options: LeaderElectionOptions,
  ) {
    this.leaseMs = options.leaseDurationMs ?? 15_000;
    this.renewDeadlineMs = options.renewDeadlineMs ?? 10_000;
    this.retryMs = options.retryPeriodMs ?? 2_000;
    if (!(this.leaseMs > this.renewDeadlineMs && this.renewDeadlineMs > this.retryMs)) {
      throw new Error('leader election needs leaseDuration > renewDeadline > retryPeriod');
    }
  }

  get isLeader(): boolean {
    return this.leading;
  }

  private get path(): string {
    return `/apis/coordination.k8s.io/v1/namespaces/${this.options.namespace}/leases`;
  }

  start(): void {
    this.loop ??= this.run();
  }

  /** Stop campaigning; a leader releases the lease first (unless `release` is false, as in a crash). */
  async stop(release = true): Promise<void> {
    this.stopped = true;
    this.wake?.();
    await this.loop;
    if (this.leading) {
      this.leading = false;
      if (release) await this.release().catch(() => undefined);
      this.options.onStoppedLeading();
    }
  }

  private async run(): Promise<void> {
    // Acquire.
    while (!this.stopped && !this.leading) {
      if (await this.tryAcquireOrRenew().catch(() => false)) {
        this.leading = true;
        this.options.log?.info(
          { lease: this.options.name, identity: this.options.identity },
          'became leader',
        );
        this.options.onStartedLeading();
        break;
      }
      await this.pause(this.retryMs * (1 + Math.random() * 0.2));
    }
    // Renew.
    let lastRenew = Date.now();
    while (!this.stopped && this.leading) {
      await this.pause(this.retryMs);
      if (this.stopped) break;
      if (await this.tryAcquireOrRenew().catch(() => false)) {
        lastRenew = Date.now();
      } else if (Date.now() - lastRenew > this.renewDeadlineMs) {
        this.leading = false;
        this.options.log?.warn(
          { lease: this.options.name },
          'could not renew the lease in time; stopped leading',
        );
        this.options.onStoppedLeading();
      }
    }
  }

  private pause(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(resolve, ms);
      this.wake = () => {
        clearTimeout(timer);
        resolve();
      };
    });
  }

  private async tryAcquireOrRenew(): Promise<boolean> {
    const now = new Date();
    const mine = (current?: Lease['spec']): Lease['spec'] => ({
      holderIdentity: this.options.identity,
      leaseDurationSeconds: Math.ceil(this.leaseMs / 1000),
      acquireTime: current?.holderIdentity === this.options.identity ? current.acquireTime : microTime(now),
      renewTime: microTime(now),
      leaseTransitions:
        (current?.leaseTransitions ?? 0) +
        (current?.holderIdentity && current.holderIdentity !== this.options.identity ? 1 : 0),
    });
    let lease: Lease;
    try {
      lease = await this.client.get<Lease>(`${this.path}/${this.options.name}`);
    } catch (error) {
      if (!(error instanceof KubeApiError && error.statusCode === 404)) throw error;
      await this.client.create<Lease>(this.path, {
        apiVersion: 'coordination.k8s.io/v1',
        kind: 'Lease',
        metadata: { name: this.options.name, namespace: this.options.namespace },
        spec: mine(),
      });
      return true;
    }
    // Track when the record last changed, on our own clock.
    const record = JSON.stringify(lease.spec);
    if (record !== this.observedRecord) {
      this.observedRecord = record;
      this.observedAt = Date.now();
    }
    const holder = lease.spec.holderIdentity;
    const heldByOther = !!holder && holder !== this.options.identity;
    const durationMs = (lease.spec.leaseDurationSeconds ?? 0) * 1000;
    if (heldByOther && this.observedAt + durationMs > Date.now()) return false;
    try {
      const updated = await this.client.replace<Lease>(`${this.path}/${this.options.name}`, {
        ...lease,
        spec: mine(lease.spec),
      });
      this.observedRecord = JSON.stringify(updated.spec);
      this.observedAt = Date.now();
      return true;
    } catch (error) {
      if (error instanceof KubeApiError && error.statusCode === 409) return false;
      throw error;
    }
  }

  private async release(): Promise<void> {
    const lease = await this.client.get<Lease>(`${this.path}/${this.options.name}`);
    if (lease.spec.holderIdentity !== this.options.identity) return;
    await this.client.replace(`${this.path}/${this.options.name}`, {
      ...lease,
      spec: {
        ...lease.spec,
        holderIdentity: null,
        leaseDurationSeconds: 1,
        renewTime: microTime(new Date()),
      },
    });
  }
}
