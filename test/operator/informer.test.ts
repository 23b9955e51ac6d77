// The informer against the real apiserver: initial list, watch events, relist after 410 Gone,
// and the watchdog that restarts a silent watch.

import { once } from 'node:events';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  Informer,
  type KubeObject,
  LAST_APPLIED_ANNOTATION,
  trimForCache,
} from '../../operator/controller/informer.js';
import { KubeClient } from '../../operator/kube/client.js';
import { testEnv } from '../env/index.js';
import { ensureNamespace } from '../helpers/namespace.js';

const NS = 'informer-tests';
const CM = `/api/v1/namespaces/${NS}/configmaps`;
let client: KubeClient;
const informers: Informer<KubeObject>[] = [];

beforeAll(async () => {
  client = await KubeClient.fromKubeconfig((await testEnv.kube()).kubeconfig);
  await ensureNamespace(client, NS);
});
afterAll(async () => {
  for (const informer of informers) await informer.stop();
});

const configMap = (name: string, value: string) => ({
  apiVersion: 'v1',
  kind: 'ConfigMap',
  metadata: { name },
  data: { value },
});

function next<T>(
  informer: Informer<KubeObject>,
  event: 'add' | 'update' | 'delete',
  name: string,
): Promise<T> {
  return new Promise((resolve) => {
    const handler = (...args: KubeObject[]) => {
      const obj = args[args.length - 1]!;
      if (obj.metadata.name === name) {
        informer.off(event, handler);
        resolve(obj as T);
      }
    };
    informer.on(event, handler);
  });
}

describe('Informer', () => {
  it('lists, then follows adds, updates and deletes', async () => {
    await client.create(CM, configMap('before', '1'));
    const informer = new Informer<KubeObject>(client, CM);
    informers.push(informer);
    const seen: string[] = [];
    informer.on('add', (o) => seen.push(`add ${o.metadata.name}`));
    await informer.start();
    expect(informer.hasSynced).toBe(true);
    expect(seen).toContain('add before');
    expect(informer.get(`${NS}/before`)).toBeDefined();

    const added = next<{ data: { value: string } }>(informer, 'add', 'during');
    await client.create(CM, configMap('during', '1'));
    expect((await added).data.value).toBe('1');

    const updated = next<{ data: { value: string } }>(informer, 'update', 'during');
    await client.patch(`${CM}/during`, { data: { value: '2' } });
    expect((await updated).data.value).toBe('2');
    expect((informer.get(`${NS}/during`) as unknown as { data: { value: string } }).data.value).toBe('2');

    const deleted = next(informer, 'delete', 'during');
    await client.delete(`${CM}/during`);
    await deleted;
    expect(informer.get(`${NS}/during`)).toBeUndefined();
  });

  it('caches objects without managedFields and kubectl’s last-applied copy, other annotations kept', async () => {
    const lastApplied = JSON.stringify(configMap('applied', '1'));
    await client.create(CM, {
      ...configMap('applied', '1'),
      metadata: {
        name: 'applied',
        annotations: { [LAST_APPLIED_ANNOTATION]: lastApplied, 'example.org/note': 'kept' },
      },
    });
    const stored = await client.get<KubeObject>(`${CM}/applied`);
    expect(stored.metadata.managedFields).toBeDefined(); // the server keeps them; the cache does not
    const informer = new Informer<KubeObject>(client, CM);
    informers.push(informer);
    await informer.start();
    const listed = informer.get(`${NS}/applied`) as KubeObject;
    expect(listed.metadata.managedFields).toBeUndefined();
    expect(listed.metadata.annotations).toEqual({ 'example.org/note': 'kept' });
    // the same on the watch path
    const updated = next<KubeObject>(informer, 'update', 'applied');
    await client.patch(`${CM}/applied`, { data: { value: '2' } });
    const watched = await updated;
    expect(watched.metadata.managedFields).toBeUndefined();
    expect(watched.metadata.annotations).toEqual({ 'example.org/note': 'kept' });
    // an object whose only annotation was the last-applied copy has none left
    expect(
      trimForCache({ metadata: { name: 'x', annotations: { [LAST_APPLIED_ANNOTATION]: '{}' } } }).metadata,
    ).toEqual({ name: 'x' });
  });

  it('after a gap, a relist emits exactly what changed meanwhile (the 410 Gone path)', async () => {
    // The informer lists again whenever the server says its resourceVersion is gone; that relist
    // must turn the difference into events. Make a gap by stopping it, change things, start again.
    await client.create(CM, configMap('stays', '1'));
    await client.create(CM, configMap('goes', '1'));
    await client.create(CM, configMap('changes', '1'));
    const informer = new Informer<KubeObject>(client, CM);
    informers.push(informer);
    await informer.start();
    await informer.stop();
    await client.delete(`${CM}/goes`);
    await client.patch(`${CM}/changes`, { data: { value: '2' } });
    await client.create(CM, configMap('arrives', '1'));
    const events: string[] = [];
    informer.on('add', (o) => events.push(`add ${o.metadata.name}`));
    informer.on('update', (_old, o) => events.push(`update ${o.metadata.name}`));
    informer.on('delete', (o) => events.push(`delete ${o.metadata.name}`));
    await informer.start();
    expect(events.sort()).toEqual(['add arrives', 'delete goes', 'update changes']);
    const server = await client.get<{ items: KubeObject[] }>(CM);
    expect(
      informer
        .list()
        .map((o) => o.metadata.name)
        .sort(),
    ).toEqual(server.items.map((o) => o.metadata.name).sort());
    // And the watch goes on after the relist.
    const added = next(informer, 'add', 'after-relist');
    await client.create(CM, configMap('after-relist', 'x'));
    await added;
  });

  it('restarts a watch that has been silent too long', async () => {
    const informer = new Informer<KubeObject>(client, `/api/v1/namespaces/${NS}/secrets`, {
      staleAfterMs: 300,
    });
    informers.push(informer);
    await informer.start();
    const [reason] = await once(informer, 'restart');
    expect(reason).toBe('stale');
    // Still working after the restart.
    const added = next(informer, 'add', 'fresh');
    await client.create(`/api/v1/namespaces/${NS}/secrets`, {
      apiVersion: 'v1',
      kind: 'Secret',
      metadata: { name: 'fresh' },
      stringData: { a: 'b' },
    });
    await added;
  });
});
