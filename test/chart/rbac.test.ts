// The chart's RBAC, applied to the real kube-apiserver (RBAC authorisation on) and questioned with
// SubjectAccessReviews: the operator's and the web UI's ServiceAccounts may do each thing they need
// and are refused a sample of things they do not need.
import { beforeAll, describe, expect, it } from 'vitest';
import { KubeClient } from '../../operator/kube/client.js';
import { testEnv } from '../env/index.js';
import { FULL_VALUES, renderChart } from './chart.js';
import { type AccessQuestion, applyAll, ensureNamespace, serviceAccountMay } from './kube.js';

let client: KubeClient;

const RBAC_KINDS = ['ServiceAccount', 'Role', 'RoleBinding', 'ClusterRole', 'ClusterRoleBinding'];

/** Applies the ServiceAccounts and RBAC objects of a render for real. */
async function installRbac(release: string, jobsNamespace: string, valuesFiles: string[]): Promise<void> {
  const objects = await renderChart({ release: 'kubeqa', namespace: release, valuesFiles });
  await ensureNamespace(client, release);
  await ensureNamespace(client, jobsNamespace);
  const rbac = objects.filter((o) => RBAC_KINDS.includes(o.kind));
  expect(rbac.length).toBeGreaterThanOrEqual(5);
  const outcomes = await applyAll(client, rbac, { dryRun: false, namespace: release });
  expect(outcomes.filter((o) => o.error)).toEqual([]);
}

const kubeqa = (
  resource: string,
  verb: string,
  namespace?: string,
  subresource?: string,
): AccessQuestion => ({
  group: 'kubeqa.io',
  resource,
  verb,
  ...(namespace ? { namespace } : {}),
  ...(subresource ? { subresource } : {}),
});

/** Every verb the operator needs in the namespace of its jobs. */
function operatorNeeds(ns: string): AccessQuestion[] {
  const out: AccessQuestion[] = [];
  for (const resource of ['jobs', 'workers', 'assets']) {
    for (const verb of ['get', 'list', 'watch', 'update', 'patch']) out.push(kubeqa(resource, verb, ns));
    for (const verb of ['get', 'update', 'patch']) out.push(kubeqa(resource, verb, ns, 'status'));
    out.push(kubeqa(resource, 'update', ns, 'finalizers'));
  }
  // Job CRs mirroring API jobs are created; finished Jobs are deleted after their TTL.
  for (const verb of ['create', 'delete']) out.push(kubeqa('jobs', verb, ns));
  for (const verb of ['get', 'list', 'watch', 'create', 'delete'])
    out.push({ resource: 'pods', verb, namespace: ns });
  // patch: a token Secret is handed to its pod (ownerReferences) once the pod exists
  for (const verb of ['create', 'get', 'list', 'watch', 'delete', 'patch'])
    out.push({ resource: 'secrets', verb, namespace: ns });
  for (const verb of ['create', 'patch']) out.push({ resource: 'events', verb, namespace: ns });
  return out;
}

function leaseNeeds(ns: string): AccessQuestion[] {
  return [
    { group: 'coordination.k8s.io', resource: 'leases', verb: 'get', namespace: ns, name: 'kubeqa-operator' },
    {
      group: 'coordination.k8s.io',
      resource: 'leases',
      verb: 'update',
      namespace: ns,
      name: 'kubeqa-operator',
    },
    { group: 'coordination.k8s.io', resource: 'leases', verb: 'create', namespace: ns },
  ];
}

async function decisions(
  sa: { namespace: string; name: string },
  questions: AccessQuestion[],
): Promise<Array<AccessQuestion & { allowed: boolean }>> {
  const out: Array<AccessQuestion & { allowed: boolean }> = [];
  for (const q of questions) out.push({ ...q, allowed: await serviceAccountMay(client, sa, q) });
  return out;
}

async function expectAllowed(sa: { namespace: string; name: string }, questions: AccessQuestion[]) {
  const refused = (await decisions(sa, questions)).filter((d) => !d.allowed);
  expect(refused).toEqual([]);
}

async function expectDenied(sa: { namespace: string; name: string }, questions: AccessQuestion[]) {
  const allowed = (await decisions(sa, questions)).filter((d) => d.allowed);
  expect(allowed).toEqual([]);
}

const nodesWrite = (['create', 'update', 'patch', 'delete'] as const).map((verb) => ({
  resource: 'nodes',
  verb,
}));

beforeAll(async () => {
  const kube = await testEnv.kube();
  client = await KubeClient.fromKubeconfig(kube.kubeconfig);
});

describe('RBAC with the default values (one jobs namespace: Roles only)', () => {
  const release = 'rbac-default';
  const jobs = 'kubeqa-jobs';
  const operator = { namespace: release, name: 'kubeqa-operator' };
  const webui = { namespace: release, name: 'kubeqa-webui' };

  beforeAll(async () => {
    await installRbac(release, jobs, []);
  });

  it('lets the operator do each thing it needs', async () => {
    await expectAllowed(operator, [...operatorNeeds(jobs), ...leaseNeeds(release)]);
  });

  it('refuses the operator what it does not need', async () => {
    await expectDenied(operator, [
      // Secrets and pods outside the jobs namespace.
      { resource: 'secrets', verb: 'get', namespace: release },
      { resource: 'secrets', verb: 'list', namespace: 'kube-system' },
      { resource: 'secrets', verb: 'list' },
      { resource: 'pods', verb: 'create', namespace: 'default' },
      // Writes it never does.
      { resource: 'secrets', verb: 'update', namespace: jobs },
      { resource: 'pods', verb: 'update', namespace: jobs },
      { resource: 'pods', verb: 'create', namespace: jobs, subresource: 'exec' },
      kubeqa('jobs', 'delete', 'default'),
      kubeqa('jobs', 'create', 'default'),
      kubeqa('jobs', 'list', 'default'),
      // Nodes, cluster RBAC, other Leases.
      ...nodesWrite,
      { resource: 'nodes', verb: 'get' },
      { group: 'rbac.authorization.k8s.io', resource: 'clusterroles', verb: 'create' },
      { group: 'rbac.authorization.k8s.io', resource: 'roles', verb: 'create', namespace: jobs },
      { group: 'coordination.k8s.io', resource: 'leases', verb: 'update', namespace: release, name: 'other' },
      {
        group: 'coordination.k8s.io',
        resource: 'leases',
        verb: 'delete',
        namespace: release,
        name: 'kubeqa-operator',
      },
      { group: 'coordination.k8s.io', resource: 'leases', verb: 'create', namespace: jobs },
      { resource: 'configmaps', verb: 'get', namespace: release },
      { group: 'apiextensions.k8s.io', resource: 'customresourcedefinitions', verb: 'update' },
    ]);
  });

  it('lets the web UI create, follow and delete Job objects in the jobs namespace', async () => {
    await expectAllowed(
      webui,
      ['create', 'get', 'list', 'watch', 'delete'].map((verb) => kubeqa('jobs', verb, jobs)),
    );
  });

  it('refuses the web UI everything else', async () => {
    await expectDenied(webui, [
      kubeqa('jobs', 'update', jobs),
      kubeqa('jobs', 'patch', jobs, 'status'),
      kubeqa('jobs', 'create', release),
      kubeqa('jobs', 'list'),
      kubeqa('workers', 'get', jobs),
      kubeqa('assets', 'create', jobs),
      { resource: 'pods', verb: 'list', namespace: jobs },
      { resource: 'secrets', verb: 'get', namespace: jobs },
      { resource: 'secrets', verb: 'get', namespace: release },
      {
        group: 'coordination.k8s.io',
        resource: 'leases',
        verb: 'get',
        namespace: release,
        name: 'kubeqa-operator',
      },
      ...nodesWrite,
    ]);
  });
});

describe('RBAC with operator.watchAllNamespaces (the full example values)', () => {
  const release = 'rbac-full';
  const jobs = 'kubeqa-tests';
  const operator = { namespace: release, name: 'kubeqa-operator' };
  const webui = { namespace: release, name: 'kubeqa-webui' };

  beforeAll(async () => {
    await installRbac(release, jobs, [FULL_VALUES]);
  });

  it('lets the operator work in any namespace, its Lease still only in its own', async () => {
    await expectAllowed(operator, [
      ...operatorNeeds(jobs),
      ...operatorNeeds('team-a'),
      ...leaseNeeds(release),
    ]);
    await expectDenied(operator, [
      ...nodesWrite,
      { resource: 'secrets', verb: 'update', namespace: 'team-a' },
      { resource: 'configmaps', verb: 'list' },
      {
        group: 'coordination.k8s.io',
        resource: 'leases',
        verb: 'update',
        namespace: 'team-a',
        name: 'kubeqa-operator',
      },
      kubeqa('workers', 'delete', 'team-a'),
    ]);
  });

  it('keeps the web UI to Job objects of the jobs namespace', async () => {
    await expectAllowed(webui, [kubeqa('jobs', 'create', jobs), kubeqa('jobs', 'watch', jobs)]);
    await expectDenied(webui, [kubeqa('jobs', 'create', 'team-a'), { resource: 'secrets', verb: 'list' }]);
  });
});
