// kubeqa's CustomResourceDefinitions as shipped in crds/, loaded as plain objects (not the typed
// client models: their serializer silently drops the x-kubernetes-* schema extensions).
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseAllDocuments } from 'yaml';
import { packageRoot } from '../../runtime/package-root.js';
import type { KubeClient } from './client.js';

export const KUBEQA_GROUP = 'kubeqa.io';
export const KUBEQA_VERSION = 'v1alpha1';
export const KUBEQA_API_VERSION = `${KUBEQA_GROUP}/${KUBEQA_VERSION}`;

export interface ManifestObject {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; [key: string]: unknown };
  [key: string]: unknown;
}

/** Every YAML document in a file, as objects. */
export function loadManifests(path: string): ManifestObject[] {
  return parseAllDocuments(readFileSync(path, 'utf8'))
    .map((doc) => doc.toJS() as ManifestObject | null)
    .filter((obj): obj is ManifestObject => obj !== null);
}

/** The CRDs in crds/ (jobs, workers, assets). */
export function kubeqaCrds(dir = join(packageRoot(), 'crds')): ManifestObject[] {
  return readdirSync(dir)
    .filter((file) => file.endsWith('.yaml'))
    .sort()
    .flatMap((file) => loadManifests(join(dir, file)));
}

interface CrdStatus {
  metadata: { name: string };
  status?: { conditions?: Array<{ type: string; status: string }> };
}

/** Server-side apply the CRDs and wait until each is Established (served). */
export async function installCrds(client: KubeClient, crds: ManifestObject[] = kubeqaCrds()): Promise<void> {
  const base = '/apis/apiextensions.k8s.io/v1/customresourcedefinitions';
  for (const crd of crds) {
    await client.patch(`${base}/${crd.metadata.name}`, crd, 'apply', 'kubeqa', true);
  }
  const pending = new Set(crds.map((crd) => crd.metadata.name));
  const controller = new AbortController();
  try {
    const list = await client.get<{ items: CrdStatus[]; metadata: { resourceVersion: string } }>(base);
    for (const item of list.items) if (isEstablished(item)) pending.delete(item.metadata.name);
    if (pending.size === 0) return;
    for await (const event of client.watch<CrdStatus>(
      `${base}?resourceVersion=${list.metadata.resourceVersion}`,
      controller.signal,
    )) {
      if (isEstablished(event.object)) pending.delete(event.object.metadata.name);
      if (pending.size === 0) return;
    }
    throw new Error(`CRDs not established: ${[...pending].join(', ')}`);
  } finally {
    controller.abort();
  }
}

function isEstablished(crd: CrdStatus): boolean {
  return crd.status?.conditions?.some((c) => c.type === 'Established' && c.status === 'True') ?? false;
}
