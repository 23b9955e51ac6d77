// kubeqa's CRDs on the real kube-apiserver: they install, the samples are accepted, bad objects
// are rejected with messages naming the field, and kubectl gets useful columns and explanations.

import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { KubeApiError, KubeClient } from '../../operator/kube/client.js';
import {
  installCrds,
  KUBEQA_API_VERSION,
  kubeqaCrds,
  loadManifests,
  type ManifestObject,
} from '../../operator/kube/crds.js';
import { packageRoot } from '../../runtime/package-root.js';
import { testEnv } from '../env/index.js';
import { ensureNamespace } from '../helpers/namespace.js';

let client: KubeClient;
const NS = 'crd-tests';

beforeAll(async () => {
  const kube = await testEnv.kube();
  client = await KubeClient.fromKubeconfig(kube.kubeconfig);
  await installCrds(client);
  await ensureNamespace(client, NS);
});

const plural: Record<string, string> = { Job: 'jobs', Worker: 'workers', Asset: 'assets' };
const path = (kind: string, name?: string) =>
  `/apis/${KUBEQA_API_VERSION}/namespaces/${NS}/${plural[kind]}${name ? `/${name}` : ''}`;

async function create(obj: ManifestObject): Promise<ManifestObject> {
  return client.create<ManifestObject>(path(obj.kind), obj);
}

async function rejection(obj: ManifestObject): Promise<string> {
  try {
    await create(obj);
  } catch (error) {
    if (error instanceof KubeApiError && error.statusCode === 422) return error.message;
    throw error;
  }
  throw new Error(`${obj.kind} ${obj.metadata.name} was accepted`);
}

const job = (name: string, spec: Record<string, unknown>): ManifestObject => ({
  apiVersion: KUBEQA_API_VERSION,
  kind: 'Job',
  metadata: { name },
  spec,
});

describe('kubeqa CRDs', () => {
  it('describe every field, so kubectl explain is useful', () => {
    const missing: string[] = [];
    const walk = (schema: Record<string, unknown>, at: string) => {
      if (at !== '' && !at.endsWith('.metadata') && typeof schema.description !== 'string') missing.push(at);
      const props = schema.properties as Record<string, Record<string, unknown>> | undefined;
      for (const [key, child] of Object.entries(props ?? {}))
        if (key !== 'metadata') walk(child, `${at}.${key}`);
      const items = schema.items as Record<string, unknown> | undefined;
      if (items?.properties) walk({ ...items, description: 'items' }, `${at}[]`);
    };
    for (const crd of kubeqaCrds()) {
      const versions = (
        crd.spec as { versions: Array<{ schema: { openAPIV3Schema: Record<string, unknown> } }> }
      ).versions;
      for (const version of versions) walk(version.schema.openAPIV3Schema, crd.metadata.name);
    }
    expect(missing).toEqual([]);
  });

  it('accept the samples in config/samples', async () => {
    const dir = join(packageRoot(), 'config', 'samples');
    for (const file of ['job-busybox.yaml', 'job-installer.yaml', 'worker-qemu.yaml', 'asset-netinst.yaml']) {
      for (const obj of loadManifests(join(dir, file))) {
        const created = await create(obj);
        expect(created.metadata.name).toBe(obj.metadata.name);
      }
    }
    // Defaults from the schema are filled in.
    const busybox = await client.get<{ spec: { priority: number; suspend: boolean } }>(
      path('Job', 'debian-installer-screens'),
    );
    expect(busybox.spec).toMatchObject({ priority: 50, suspend: false });
  });

  it('reject bad Jobs with messages that name the field', async () => {
    expect(await rejection(job('no-test', { settings: { DISTRI: 'debian' } }))).toContain(
      'settings.TEST is required',
    );
    expect(await rejection(job('no-settings', {}))).toMatch(/spec\.settings: Required value/);
    expect(await rejection(job('bad-prio', { settings: { TEST: 't' }, priority: 5000 }))).toMatch(
      /spec\.priority/,
    );
    expect(await rejection(job('bad-key', { settings: { TEST: 't', 'lower-case': 'x' } }))).toContain(
      'setting names are upper-case letters',
    );
    expect(
      await rejection(
        job('selfish', { settings: { TEST: 't' }, dependencies: { parallelWith: ['other', 'selfish'] } }),
      ),
    ).toContain('a Job cannot depend on itself');
    expect(await rejection(job('bad-ttl', { settings: { TEST: 't' }, ttlSecondsAfterFinished: -1 }))).toMatch(
      /spec\.ttlSecondsAfterFinished/,
    );
  });

  it('reject bad Workers and Assets', async () => {
    const worker = (name: string, spec: Record<string, unknown>): ManifestObject => ({
      apiVersion: KUBEQA_API_VERSION,
      kind: 'Worker',
      metadata: { name },
      spec,
    });
    expect(await rejection(worker('no-classes', { workerClasses: [], arch: 'x86_64' }))).toMatch(
      /spec\.workerClasses/,
    );
    expect(await rejection(worker('bad-arch', { workerClasses: ['qemu'], arch: 'm68k' }))).toMatch(
      /spec\.arch/,
    );
    expect(
      await rejection(worker('bad-kvm', { workerClasses: ['qemu'], arch: 'x86_64', kvm: 'maybe' })),
    ).toMatch(/spec\.kvm/);
    expect(
      await rejection(worker('bad-cache', { workerClasses: ['qemu'], arch: 'x86_64', cacheSize: 'lots' })),
    ).toMatch(/spec\.cacheSize/);
    const asset = (name: string, spec: Record<string, unknown>): ManifestObject => ({
      apiVersion: KUBEQA_API_VERSION,
      kind: 'Asset',
      metadata: { name },
      spec,
    });
    expect(
      await rejection(
        asset('two-sources', { type: 'iso', source: { url: 'https://x/a.iso', s3Key: 'a.iso' } }),
      ),
    ).toContain('set exactly one of source.url or source.s3Key');
    expect(await rejection(asset('ftp', { type: 'iso', source: { url: 'ftp://x/a.iso' } }))).toContain(
      'source.url must be an http:// or https:// URL',
    );
    expect(
      await rejection(asset('bad-sum', { type: 'hdd', source: { s3Key: 'a.qcow2' }, sha256: 'abc' })),
    ).toMatch(/spec\.sha256/);
  });

  it('scale a Worker pool through the scale subresource', async () => {
    await create({
      apiVersion: KUBEQA_API_VERSION,
      kind: 'Worker',
      metadata: { name: 'scalable' },
      spec: { workerClasses: ['qemu_x86_64'], arch: 'x86_64', maxJobs: 2 },
    });
    await client.patch(`${path('Worker', 'scalable')}/scale`, { spec: { replicas: 5 } }, 'merge');
    const pool = await client.get<{ spec: { maxJobs: number } }>(path('Worker', 'scalable'));
    expect(pool.spec.maxJobs).toBe(5);
  });

  it('show printer columns as kubectl get does', async () => {
    const table = await client.request<{
      columnDefinitions: Array<{ name: string }>;
      rows: Array<{ cells: unknown[] }>;
    }>('GET', path('Job'), { accept: 'application/json;as=Table;v=v1;g=meta.k8s.io' });
    expect(table.columnDefinitions.map((c) => c.name)).toEqual(
      expect.arrayContaining(['Name', 'Test', 'Phase', 'Result', 'Job ID', 'Age']),
    );
    expect(table.rows.some((row) => row.cells.includes('busybox_shell'))).toBe(true);
  });
});
