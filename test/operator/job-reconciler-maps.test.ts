// The Job reconciler's per-CR bookkeeping (who depends on whom, first-seen times) follows the CRs:
// it grows with observed Jobs and shrinks back to nothing when they are deleted or stop naming a
// parent, so a long-running operator does not keep every Job it ever saw. The informer is a real
// one (not started: observe/forget are fed directly, as the informer's handlers would).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type OpenDatabase, openPglite } from '../../db/connect.js';
import { Informer, type KubeObject } from '../../operator/controller/informer.js';
import { KubeClient } from '../../operator/kube/client.js';
import { JobReconciler } from '../../operator/reconcilers/job.js';
import { testEnv } from '../env/index.js';

let database: OpenDatabase;
let reconciler: JobReconciler;

beforeAll(async () => {
  const client = await KubeClient.fromKubeconfig((await testEnv.kube()).kubeconfig);
  database = await openPglite();
  const informer = new Informer<KubeObject>(client, '/apis/kubeqa.io/v1alpha1/namespaces/maps/jobs');
  reconciler = new JobReconciler(client, informer, database, {
    cancel: async () => undefined,
    hasPod: () => false,
    webUrl: 'https://kubeqa.example.org',
  });
});
afterAll(async () => {
  await database?.close();
});

function job(name: string, uid: string, dependencies: Record<string, string[]> = {}): KubeObject {
  return {
    apiVersion: 'kubeqa.io/v1alpha1',
    kind: 'Job',
    metadata: { name, namespace: 'maps', uid, generation: 1 },
    spec: { settings: { TEST: name }, dependencies },
  } as KubeObject;
}

describe('the Job reconciler’s dependency bookkeeping', () => {
  it('wakes the children of a Job, and forgets them when they go', () => {
    const parent = job('install', 'u-install');
    const direct = job('boot', 'u-boot', { startDirectlyAfter: ['install'] });
    const later = job('upgrade', 'u-upgrade', { startAfter: ['install'], parallelWith: ['other'] });
    expect(reconciler.observe(parent)).toEqual([]);
    // a child names its parent (woken: it may be waiting for it)
    expect(reconciler.observe(direct)).toEqual(['maps/install']);
    reconciler.observe(later);
    expect(reconciler.childrenOf('maps/install').sort()).toEqual(['maps/boot', 'maps/upgrade']);
    // a parent that changes wakes its children
    expect(reconciler.observe(parent).sort()).toEqual(['maps/boot', 'maps/upgrade']);
    expect(reconciler.trackedCounts()).toMatchObject({
      dependents: 2,
      children: 2,
      registered: 2,
      firstSeen: 3,
    });

    // a child whose spec no longer names the parent is taken out
    reconciler.observe(job('upgrade', 'u-upgrade', {}));
    expect(reconciler.childrenOf('maps/install')).toEqual(['maps/boot']);
    expect(reconciler.childrenOf('maps/other')).toEqual([]);

    for (const o of [direct, later, parent]) reconciler.forget(o);
    expect(reconciler.childrenOf('maps/install')).toEqual([]);
    expect(reconciler.trackedCounts()).toMatchObject({
      dependents: 0,
      children: 0,
      registered: 0,
      firstSeen: 0,
      specs: 0,
      jobOfUid: 0,
      keyOfJob: 0,
    });
  });
});
