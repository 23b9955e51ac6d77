// The real kube-apiserver + etcd from the harness: a CRD is installed, a custom resource is
// created and seen through a watch, and schema and CEL validation reject bad objects.
import * as k8s from '@kubernetes/client-node';
import { afterAll, describe, expect, it } from 'vitest';
import { testEnv } from '../env/index.js';

const GROUP = 'smoke.kubeqa.io';
// Typed client models (client-node 1.x): JSON-schema extensions use snake_case names
// (x_kubernetes_validations); the serializer silently drops the wire names (x-kubernetes-validations).
const crd: k8s.V1CustomResourceDefinition = {
  apiVersion: 'apiextensions.k8s.io/v1',
  kind: 'CustomResourceDefinition',
  metadata: { name: `widgets.${GROUP}` },
  spec: {
    group: GROUP,
    scope: 'Namespaced',
    names: { plural: 'widgets', singular: 'widget', kind: 'Widget' },
    versions: [
      {
        name: 'v1',
        served: true,
        storage: true,
        schema: {
          openAPIV3Schema: {
            type: 'object',
            properties: {
              spec: {
                type: 'object',
                required: ['size'],
                properties: {
                  size: { type: 'integer', minimum: 1 },
                  min: { type: 'integer' },
                  max: { type: 'integer' },
                },
                x_kubernetes_validations: [
                  {
                    rule: '!has(self.min) || !has(self.max) || self.min <= self.max',
                    message: 'min must not exceed max',
                  },
                ],
              },
            },
          },
        },
      },
    ],
  },
};

const stops: Array<() => void> = [];
afterAll(() => {
  for (const stop of stops) stop();
});

/**
 * Watch `path` until `done(type, object)` says so. A watch on a resource whose watch cache is
 * still starting (right after its CRD is established) is answered 429 with Retry-After; retry then.
 */
async function watchUntil<T>(
  kc: k8s.KubeConfig,
  path: string,
  query: Record<string, string>,
  done: (type: string, obj: T) => boolean,
): Promise<void> {
  for (let attempt = 0; ; attempt++) {
    try {
      await new Promise<void>((resolve, reject) => {
        new k8s.Watch(kc)
          .watch(
            path,
            query,
            (type, obj: T) => (done(type, obj) ? resolve() : undefined),
            (err) => (err ? reject(err) : undefined),
          )
          .then((req) => stops.push(() => req.abort()), reject);
      });
      return;
    } catch (error) {
      if ((error as { statusCode?: number }).statusCode !== 429 || attempt >= 20) throw error;
      await new Promise((resolve) => setTimeout(resolve, 250));
    }
  }
}

describe('kube-apiserver + etcd started by the harness', () => {
  it('installs a CRD, creates and watches a custom resource, and rejects bad objects', async () => {
    const info = await testEnv.kube();
    const kc = new k8s.KubeConfig();
    kc.loadFromFile(info.kubeconfig);
    const ext = kc.makeApiClient(k8s.ApiextensionsV1Api);
    const custom = kc.makeApiClient(k8s.CustomObjectsApi);

    const version = await kc.makeApiClient(k8s.VersionApi).getCode();
    expect(version.gitVersion).toMatch(/^v1\.\d+\.\d+/);

    await ext.createCustomResourceDefinition({ body: crd });
    // Wait for the CRD to be Established, on its own watch stream.
    await watchUntil<k8s.V1CustomResourceDefinition>(
      kc,
      '/apis/apiextensions.k8s.io/v1/customresourcedefinitions',
      { fieldSelector: `metadata.name=widgets.${GROUP}` },
      (_type, obj) =>
        obj.status?.conditions?.some((c) => c.type === 'Established' && c.status === 'True') ?? false,
    );

    const seen: string[] = [];
    const added = watchUntil<{ metadata: { name: string } }>(
      kc,
      `/apis/${GROUP}/v1/namespaces/default/widgets`,
      {},
      (type, obj) => {
        seen.push(`${type} ${obj.metadata.name}`);
        return type === 'ADDED' && obj.metadata.name === 'first';
      },
    );
    const created = (await custom.createNamespacedCustomObject({
      group: GROUP,
      version: 'v1',
      namespace: 'default',
      plural: 'widgets',
      body: { apiVersion: `${GROUP}/v1`, kind: 'Widget', metadata: { name: 'first' }, spec: { size: 3 } },
    })) as { metadata: { uid: string } };
    expect(created.metadata.uid).toMatch(/^[0-9a-f-]{36}$/);
    await added;
    expect(seen).toContain('ADDED first');

    const create = (name: string, spec: Record<string, unknown>) =>
      custom.createNamespacedCustomObject({
        group: GROUP,
        version: 'v1',
        namespace: 'default',
        plural: 'widgets',
        body: { apiVersion: `${GROUP}/v1`, kind: 'Widget', metadata: { name }, spec },
      });
    // OpenAPI schema: wrong type and below minimum, each named by its field.
    await expect(create('bad-type', { size: 'big' })).rejects.toThrow(/spec\.size/);
    await expect(create('too-small', { size: 0 })).rejects.toThrow(/spec\.size/);
    // CEL rule.
    await expect(create('bad-range', { size: 1, min: 5, max: 2 })).rejects.toThrow(/min must not exceed max/);
  });
});
