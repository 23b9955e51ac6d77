// Wait for an object to satisfy a condition, on a watch stream (no polling).
import type { KubeClient } from '../../operator/kube/client.js';
import { QUICK_WAIT_MS } from '../helpers/deadlines.js';

export async function waitForObject<T extends { metadata: { name: string } }>(
  client: KubeClient,
  collectionPath: string,
  name: string,
  predicate: (obj: T) => boolean,
  timeoutMs = QUICK_WAIT_MS,
): Promise<T> {
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(), timeoutMs);
  let last: T | undefined;
  try {
    const list = await client.get<{ items: T[]; metadata: { resourceVersion: string } }>(
      `${collectionPath}?fieldSelector=metadata.name%3D${name}`,
    );
    last = list.items[0];
    if (last && predicate(last)) return last;
    for await (const event of client.watch<T>(
      `${collectionPath}?fieldSelector=metadata.name%3D${name}&resourceVersion=${list.metadata.resourceVersion}`,
      controller.signal,
    )) {
      if (event.type === 'BOOKMARK' || event.type === 'ERROR') continue;
      last = event.object;
      if (predicate(event.object)) return event.object;
    }
    throw new Error(
      `${name} did not reach the expected state within ${timeoutMs} ms; last seen: ${JSON.stringify(last)?.slice(0, 2000)}`,
    );
  } finally {
    clearTimeout(timer);
    controller.abort();
  }
}

/** Wait until an item of a collection (filtered by a field selector) satisfies the predicate. */
export async function waitForItem<T>(
  client: KubeClient,
  collectionPath: string,
  fieldSelector: string,
  predicate: (item: T) => boolean,
  timeoutMs = QUICK_WAIT_MS,
): Promise<T> {
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(), timeoutMs);
  const selector = encodeURIComponent(fieldSelector);
  try {
    const list = await client.get<{ items: T[]; metadata: { resourceVersion: string } }>(
      `${collectionPath}?fieldSelector=${selector}`,
    );
    const found = list.items.find(predicate);
    if (found) return found;
    for await (const event of client.watch<T>(
      `${collectionPath}?fieldSelector=${selector}&resourceVersion=${list.metadata.resourceVersion}`,
      controller.signal,
    )) {
      if (event.type !== 'BOOKMARK' && event.type !== 'ERROR' && predicate(event.object)) return event.object;
    }
    throw new Error(`no item of ${collectionPath} (${fieldSelector}) matched within ${timeoutMs} ms`);
  } finally {
    clearTimeout(timer);
    controller.abort();
  }
}
