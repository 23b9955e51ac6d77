// Applying rendered objects to the harness's kube-apiserver: resource paths from discovery,
// server-side apply (optionally dry run), namespaces, the Gateway API CRDs, SubjectAccessReviews.
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import type { KubeClient } from '../../operator/kube/client.js';
import { installCrds, loadManifests, type ManifestObject } from '../../operator/kube/crds.js';
import { goCacheEnv } from '../env/paths.js';
import { requireCommand } from '../env/system.js';

const execFileAsync = promisify(execFile);

interface ApiResource {
  name: string;
  kind: string;
  namespaced: boolean;
}

/** Resolves an object's REST path from the API server's discovery documents. */
export class ResourcePaths {
  private readonly lists = new Map<string, ApiResource[]>();
  constructor(private readonly client: KubeClient) {}

  async path(obj: ManifestObject, namespace?: string): Promise<string> {
    const groupVersion = obj.apiVersion;
    let resources = this.lists.get(groupVersion);
    if (!resources) {
      const base = groupVersion.includes('/') ? `/apis/${groupVersion}` : `/api/${groupVersion}`;
      resources = (await this.client.get<{ resources: ApiResource[] }>(base)).resources;
      this.lists.set(groupVersion, resources);
    }
    const resource = resources.find((r) => r.kind === obj.kind && !r.name.includes('/'));
    if (!resource) throw new Error(`the API server serves no ${obj.kind} in ${groupVersion}`);
    const base = groupVersion.includes('/') ? `/apis/${groupVersion}` : `/api/${groupVersion}`;
    const ns = obj.metadata.namespace ?? namespace;
    if (resource.namespaced && !ns) throw new Error(`${obj.kind}/${obj.metadata.name} has no namespace`);
    const scope = resource.namespaced ? `/namespaces/${ns}` : '';
    return `${base}${scope}/${resource.name}/${obj.metadata.name}`;
  }
}

export interface ApplyOutcome {
  object: string;
  error?: string;
}

/** Server-side apply of each object (dryRun=All when asked); one outcome per object, errors kept. */
export async function applyAll(
  client: KubeClient,
  objects: ManifestObject[],
  options: { dryRun: boolean; namespace?: string },
): Promise<ApplyOutcome[]> {
  const paths = new ResourcePaths(client);
  const outcomes: ApplyOutcome[] = [];
  for (const obj of objects) {
    const object = `${obj.kind}/${obj.metadata.namespace ?? options.namespace ?? ''}/${obj.metadata.name}`;
    try {
      const path = await paths.path(obj, options.namespace);
      const query = options.dryRun ? '?dryRun=All' : '';
      await client.patch(`${path}${query}`, obj, 'apply', 'kubeqa-chart-test', true);
      outcomes.push({ object });
    } catch (error) {
      outcomes.push({ object, error: (error as Error).message });
    }
  }
  return outcomes;
}

/** Creates a namespace (with labels) unless it exists; labels are applied either way. */
export async function ensureNamespace(
  client: KubeClient,
  name: string,
  labels: Record<string, string> = {},
): Promise<void> {
  await client.patch(
    `/api/v1/namespaces/${name}`,
    { apiVersion: 'v1', kind: 'Namespace', metadata: { name, labels } },
    'apply',
    'kubeqa-chart-test',
    true,
  );
}

export const GATEWAY_API_VERSION = 'v1.3.0';

/**
 * The Gateway API's HTTPRoute CRD (standard channel), from the sigs.k8s.io/gateway-api Go module
 * in the Go module cache the harness uses (downloaded through the Go module proxy on first use).
 */
export async function gatewayApiHttpRouteCrd(): Promise<ManifestObject[]> {
  const go = requireCommand('go', ['golang-go'], ['/usr/local/go/bin']);
  const env = { ...(process.env as Record<string, string>), ...goCacheEnv(), GOFLAGS: '-mod=mod' };
  const { stdout } = await execFileAsync(
    go,
    ['mod', 'download', '-json', `sigs.k8s.io/gateway-api@${GATEWAY_API_VERSION}`],
    { env, cwd: tmpdir() },
  );
  const dir = (JSON.parse(stdout) as { Dir?: string; Error?: string }).Dir;
  if (!dir) throw new Error(`go mod download sigs.k8s.io/gateway-api@${GATEWAY_API_VERSION}: ${stdout}`);
  const file = join(dir, 'config', 'crd', 'standard', 'gateway.networking.k8s.io_httproutes.yaml');
  if (!existsSync(file)) throw new Error(`${file} is missing from the gateway-api module`);
  return loadManifests(file);
}

/** Installs the CRDs in the rendered objects and the HTTPRoute CRD, waiting until served. */
export async function installRenderedCrds(client: KubeClient, objects: ManifestObject[]): Promise<void> {
  const crds = objects.filter((o) => o.kind === 'CustomResourceDefinition');
  await installCrds(client, [...crds, ...(await gatewayApiHttpRouteCrd())]);
}

export interface AccessQuestion {
  verb: string;
  group?: string;
  resource: string;
  subresource?: string;
  namespace?: string;
  name?: string;
}

/** Asks the API server (SubjectAccessReview) whether a ServiceAccount may do something. */
export async function serviceAccountMay(
  client: KubeClient,
  serviceAccount: { namespace: string; name: string },
  question: AccessQuestion,
): Promise<boolean> {
  const review = await client.create<{ status: { allowed: boolean } }>(
    '/apis/authorization.k8s.io/v1/subjectaccessreviews',
    {
      apiVersion: 'authorization.k8s.io/v1',
      kind: 'SubjectAccessReview',
      spec: {
        user: `system:serviceaccount:${serviceAccount.namespace}:${serviceAccount.name}`,
        groups: [
          'system:serviceaccounts',
          `system:serviceaccounts:${serviceAccount.namespace}`,
          'system:authenticated',
        ],
        resourceAttributes: {
          verb: question.verb,
          group: question.group ?? '',
          resource: question.resource,
          ...(question.subresource ? { subresource: question.subresource } : {}),
          ...(question.namespace ? { namespace: question.namespace } : {}),
          ...(question.name ? { name: question.name } : {}),
        },
      },
    },
  );
  return review.status.allowed;
}
