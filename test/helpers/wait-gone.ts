// Wait until a Kubernetes object is deleted, on a watch stream (no polling): resolves at once when
// it does not exist, else on its DELETED event; fails after the deadline.
import type { KubeClient } from '../../operator/kube/client.js';
import { QUICK_WAIT_MS } from './deadlines.js';

export async function waitGone(
  client: KubeClient,
  collectionPath: string,
  name: string,
  timeoutMs = QUICK_WAIT_MS,
): Promise<void> {
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(), timeoutMs);
  const selector = `fieldSelector=metadata.name%3D${name}`;
  try {
    const list = await client.get<{ items: unknown[]; metadata: { resourceVersion: string } }>(
      `${collectionPath}?${selector}`,
    );
    if (list.items.length === 0) return;
    for await (const event of client.watch<unknown>(
      `${collectionPath}?${selector}&resourceVersion=${list.metadata.resourceVersion}`,
      controller.signal,
    ))
      if (event.type === 'DELETED') return;
    throw new Error(`${collectionPath}/${name} was not deleted within ${timeoutMs} ms`);
  } finally {
    clearTimeout(timer);
    controller.abort();
  }
}
