// A namespace for a test file on the harness's kube-apiserver: created, or kept if it exists
// (test files share one apiserver per run).
import { KubeApiError, type KubeClient } from '../../operator/kube/client.js';

export async function ensureNamespace(client: KubeClient, name: string): Promise<void> {
  await client
    .create('/api/v1/namespaces', { apiVersion: 'v1', kind: 'Namespace', metadata: { name } })
    .catch((e) => {
      if (!(e instanceof KubeApiError && e.statusCode === 409)) throw e;
    });
}
