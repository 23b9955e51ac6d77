// Leader election on a real Lease: one leader at a time, hand-over on release, take-over after a
// crashed leader's lease expires.

import { beforeAll, describe, expect, it } from 'vitest';
import { LeaderElector } from '../../operator/controller/leader-election.js';
import { KubeClient } from '../../operator/kube/client.js';
import { testEnv } from '../env/index.js';
import { ensureNamespace } from '../helpers/namespace.js';

const NS = 'leader-tests';
let client: KubeClient;

beforeAll(async () => {
  client = await KubeClient.fromKubeconfig((await testEnv.kube()).kubeconfig);
  await ensureNamespace(client, NS);
});

function candidate(identity: string, leaders: Set<string>, maxLeaders: { n: number }) {
  let resolveLeading!: () => void;
  const leading = new Promise<void>((resolve) => {
    resolveLeading = resolve;
  });
  const elector = new LeaderElector(client, {
    namespace: NS,
    name: 'kubeqa-operator',
    identity,
    leaseDurationMs: 1500,
    renewDeadlineMs: 1000,
    retryPeriodMs: 200,
    onStartedLeading: () => {
      leaders.add(identity);
      maxLeaders.n = Math.max(maxLeaders.n, leaders.size);
      resolveLeading();
    },
    onStoppedLeading: () => leaders.delete(identity),
  });
  return { elector, leading };
}

async function holder(): Promise<string | null | undefined> {
  const lease = await client.get<{ spec: { holderIdentity?: string | null } }>(
    `/apis/coordination.k8s.io/v1/namespaces/${NS}/leases/kubeqa-operator`,
  );
  return lease.spec.holderIdentity;
}

describe('LeaderElector', () => {
  it('elects one leader, hands over on release, and takes over from a crashed leader', async () => {
    const leaders = new Set<string>();
    const max = { n: 0 };
    const a = candidate('operator-a', leaders, max);
    const b = candidate('operator-b', leaders, max);
    a.elector.start();
    await a.leading;
    b.elector.start();
    expect(await holder()).toBe('operator-a');
    expect(b.elector.isLeader).toBe(false);

    // Graceful stop: A releases, B takes over.
    await a.elector.stop(true);
    await b.leading;
    expect(await holder()).toBe('operator-b');

    // Crash: B stops renewing without releasing; C waits for the lease to expire, then leads.
    await b.elector.stop(false);
    expect(await holder()).toBe('operator-b');
    const c = candidate('operator-c', leaders, max);
    c.elector.start();
    await c.leading;
    expect(await holder()).toBe('operator-c');
    await c.elector.stop(true);
    expect(max.n).toBe(1);

    const lease = await client.get<{ spec: { leaseTransitions: number } }>(
      `/apis/coordination.k8s.io/v1/namespaces/${NS}/leases/kubeqa-operator`,
    );
    expect(lease.spec.leaseTransitions).toBeGreaterThanOrEqual(1);
  });

  it('refuses timings that cannot work', () => {
    expect(
      () =>
        new LeaderElector(client, {
          namespace: NS,
          name: 'x',
          identity: 'x',
          leaseDurationMs: 1000,
          renewDeadlineMs: 2000,
          onStartedLeading() {},
          onStoppedLeading() {},
        }),
    ).toThrow(/leaseDuration > renewDeadline > retryPeriod/);
  });
});
