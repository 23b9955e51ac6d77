// A pod's life as the kubelet reports it (played by the FakeKubelet through the real apiserver),
// read back and turned into what it means for the job.

import { beforeAll, describe, expect, it } from 'vitest';
import { operatorConfigFromEnv } from '../../operator/config.js';
import { KubeClient } from '../../operator/kube/client.js';
import { buildTestPod } from '../../operator/pods/build-pod.js';
import { type PodView, podOutcome } from '../../operator/pods/pod-outcome.js';
import { DEFAULT_TRANSIENT_REASON } from '../../operator/scheduler/types.js';
import { testEnv } from '../env/index.js';
import { ensureNamespace } from '../helpers/namespace.js';
import { FakeKubelet } from './fake-kubelet.js';

const NS = 'outcome-tests';
let client: KubeClient;
let kubelet: FakeKubelet;
const podsConfig = operatorConfigFromEnv({
  KUBEQA_DATABASE_URL: 'postgres://x@y/z',
  KUBEQA_API_URL: 'http://api',
  KUBEQA_RUNNER_IMAGE: 'runner',
}).pods;

beforeAll(async () => {
  client = await KubeClient.fromKubeconfig((await testEnv.kube()).kubeconfig);
  kubelet = new FakeKubelet(client);
  await ensureNamespace(client, NS);
});

async function createPod(id: number): Promise<string> {
  const { pod } = buildTestPod(
    { id, namespace: NS, settings: { TEST: 't' } },
    { name: 'p', spec: { workerClasses: ['c'], arch: 'x86_64' } },
    podsConfig,
    't',
  );
  const created = await client.create<PodView>(`/api/v1/namespaces/${NS}/pods`, pod);
  return created.metadata.name;
}
const read = (name: string) => client.get<PodView>(`/api/v1/namespaces/${NS}/pods/${name}`);

describe('podOutcome on pods the apiserver holds', () => {
  it('follows a pod from pending to running to succeeded', async () => {
    const name = await createPod(1);
    expect(podOutcome(await read(name))).toEqual({ kind: 'pending', reason: 'pod pending' });
    await kubelet.unschedulable(
      NS,
      name,
      '0/3 nodes are available: 3 node(s) did not match node selector kubeqa.io/kvm.',
    );
    expect(podOutcome(await read(name))).toEqual({
      kind: 'pending',
      reason:
        'waiting for a node: 0/3 nodes are available: 3 node(s) did not match node selector kubeqa.io/kvm.',
    });
    await kubelet.running(NS, name);
    expect(podOutcome(await read(name))).toEqual({ kind: 'running' });
    await kubelet.terminated(NS, name, 'Succeeded', 0);
    expect(podOutcome(await read(name))).toEqual({ kind: 'succeeded' });
  });

  it('explains failures with transient "runner died" reasons', async () => {
    const oom = await createPod(2);
    await kubelet.terminated(NS, oom, 'Failed', 137, 'OOMKilled');
    const outcome = podOutcome(await read(oom));
    expect(outcome).toMatchObject({ kind: 'failed', reason: expect.stringContaining('OOMKilled') });
    expect(DEFAULT_TRANSIENT_REASON.test((outcome as { reason: string }).reason)).toBe(true);

    const crashed = await createPod(3);
    await kubelet.terminated(NS, crashed, 'Failed', 3);
    expect(podOutcome(await read(crashed))).toEqual({ kind: 'failed', reason: 'runner died: exit code 3' });

    const evicted = await createPod(4);
    await kubelet.evicted(NS, evicted, 'The node was low on resource: ephemeral-storage.');
    expect(podOutcome(await read(evicted))).toEqual({
      kind: 'failed',
      reason: 'runner died: pod evicted: The node was low on resource: ephemeral-storage.',
    });

    await client.delete(`/api/v1/namespaces/${NS}/pods/${evicted}`);
    expect(podOutcome(undefined)).toEqual({ kind: 'gone', reason: 'runner died: the test pod was deleted' });
  });

  it('fails fast on an image that cannot be pulled', () => {
    const pod: PodView = {
      metadata: { name: 'x' },
      status: {
        phase: 'Pending',
        containerStatuses: [
          {
            name: 'runner',
            state: {
              waiting: { reason: 'ImagePullBackOff', message: 'Back-off pulling image "runner:nope"' },
            },
          },
        ],
      },
    };
    expect(podOutcome(pod)).toEqual({
      kind: 'failed',
      reason:
        'runner died: container runner cannot start: ImagePullBackOff: Back-off pulling image "runner:nope"',
    });
  });
});
