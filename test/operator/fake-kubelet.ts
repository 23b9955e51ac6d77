// FAKE KUBELET. No kubelet runs in the test environment (there are no nodes), so this helper
// plays one: it writes pod status through the real apiserver's pods/status subresource, the
// way a kubelet reports a pod's life. Everything else in these tests is real.
import type { KubeClient } from '../../operator/kube/client.js';

const now = () => new Date().toISOString().replace(/\.\d{3}Z$/, 'Z');

export class FakeKubelet {
  constructor(private readonly client: KubeClient) {}

  private status(namespace: string, name: string, status: Record<string, unknown>) {
    return this.client.patch(`/api/v1/namespaces/${namespace}/pods/${name}/status`, { status }, 'merge');
  }

  unschedulable(namespace: string, name: string, message: string) {
    return this.status(namespace, name, {
      phase: 'Pending',
      conditions: [
        {
          type: 'PodScheduled',
          status: 'False',
          reason: 'Unschedulable',
          message,
          lastTransitionTime: now(),
        },
      ],
    });
  }

  running(namespace: string, name: string) {
    return this.status(namespace, name, {
      phase: 'Running',
      conditions: [{ type: 'PodScheduled', status: 'True', lastTransitionTime: now() }],
      containerStatuses: [
        {
          name: 'runner',
          ready: true,
          restartCount: 0,
          image: 'runner',
          imageID: '',
          state: { running: { startedAt: now() } },
        },
      ],
    });
  }

  terminated(
    namespace: string,
    name: string,
    phase: 'Succeeded' | 'Failed',
    exitCode: number,
    reason?: string,
  ) {
    return this.status(namespace, name, {
      phase,
      containerStatuses: [
        {
          name: 'runner',
          ready: false,
          restartCount: 0,
          image: 'runner',
          imageID: '',
          state: {
            terminated: {
              exitCode,
              reason: reason ?? (exitCode === 0 ? 'Completed' : 'Error'),
              startedAt: now(),
              finishedAt: now(),
            },
          },
        },
      ],
    });
  }

  evicted(namespace: string, name: string, message: string) {
    return this.status(namespace, name, { phase: 'Failed', reason: 'Evicted', message });
  }
}
