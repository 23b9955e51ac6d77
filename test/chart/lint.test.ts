// The chart passes `helm lint --strict` with its defaults and with the full example values, and its
// values.schema.json (checked by helm itself) refuses wrong types, unknown keys and bad enums with
// the offending path.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { CHART_DIR, FULL_VALUES, findObject, helm, KUBE_VERSION, renderChart } from './chart.js';

const lint = (...args: string[]) =>
  helm(['lint', '--strict', CHART_DIR, '--kube-version', KUBE_VERSION, ...args]);

describe('helm lint --strict', () => {
  it('passes with the default values', async () => {
    const result = await lint();
    expect(result.stdout + result.stderr).toContain('1 chart(s) linted, 0 chart(s) failed');
    expect(result.code).toBe(0);
  });

  it('passes with the full example values', async () => {
    const result = await lint('--values', FULL_VALUES);
    expect(result.stdout + result.stderr).toContain('1 chart(s) linted, 0 chart(s) failed');
    expect(result.code).toBe(0);
  });
});

describe('values.schema.json, as helm applies it', () => {
  const refused = async (set: string, path: string, words: RegExp) => {
    const result = await helm([
      'template',
      'kubeqa',
      CHART_DIR,
      '--kube-version',
      KUBE_VERSION,
      '--set',
      set,
    ]);
    expect(result.code, `--set ${set} was accepted`).not.toBe(0);
    expect(result.stderr).toContain(path);
    expect(result.stderr).toMatch(words);
  };

  it('refuses wrong types', async () => {
    await refused('operator.replicas=two', "'/operator/replicas'", /want integer/);
    await refused('webui.ingress.enabled=yes', "'/webui/ingress/enabled'", /want boolean/);
    await refused('workers[0].spec.maxJobs=many', "'/workers/0/spec/maxJobs'", /want integer/);
    await refused('jobs.kvmGroupId=-1', "'/jobs/kvmGroupId'", /minimum/);
  });

  it('refuses unknown keys at every level', async () => {
    await refused('replicaCount=2', "at ''", /additional properties 'replicaCount' not allowed/);
    await refused('webui.ingress.hostname=x', "'/webui/ingress'", /'hostname' not allowed/);
    await refused('operator.resources.request.cpu=1', "'/operator/resources'", /'request' not allowed/);
    await refused('workers[0].spec.maxjobs=3', "'/workers/0/spec'", /'maxjobs' not allowed/);
  });

  it('refuses values outside their enums and patterns', async () => {
    await refused('logLevel=verbose', "'/logLevel'", /must be one of|value must be/);
    await refused('jobs.kvmDevice=/dev/kvm', "'/jobs/kvmDevice'", /does not match pattern/);
    await refused('image.digest=latest', "'/image/digest'", /does not match pattern/);
    await refused('database.url=mysql://x', "'/database/url'", /does not match pattern/);
  });

  it('closes every object (additionalProperties) and describes every property', () => {
    const schema = JSON.parse(readFileSync(join(CHART_DIR, 'values.schema.json'), 'utf8')) as Record<
      string,
      unknown
    >;
    const open: string[] = [];
    const undescribed: string[] = [];
    const walk = (node: Record<string, unknown>, at: string) => {
      if (node.type === 'object' && node.additionalProperties === undefined) open.push(at);
      const props = (node.properties ?? {}) as Record<string, Record<string, unknown>>;
      for (const [key, child] of Object.entries(props)) {
        if (typeof child.description !== 'string' && typeof child.$ref !== 'string')
          undescribed.push(`${at}.${key}`);
        walk(child, `${at}.${key}`);
      }
      for (const key of ['items', 'additionalProperties']) {
        const child = node[key];
        if (child && typeof child === 'object') walk(child as Record<string, unknown>, `${at}[${key}]`);
      }
      for (const key of ['anyOf', 'oneOf']) {
        for (const [i, child] of ((node[key] ?? []) as Record<string, unknown>[]).entries())
          walk(child, `${at}{${key}${i}}`);
      }
    };
    walk(schema, '$');
    for (const [name, def] of Object.entries(schema.definitions as Record<string, Record<string, unknown>>))
      walk(def, `#${name}`);
    // Kubernetes' own structures (affinity terms, env valueFrom) are left to the API server.
    expect(open.filter((p) => !/affinity\.(node|pod|podAnti)Affinity$|envVar\.valueFrom$/.test(p))).toEqual(
      [],
    );
    expect(undescribed).toEqual([]);
  });
});

describe('rendering choices', () => {
  it('stores one generated password per render, the same in the URL and in the server’s Secret', async () => {
    const objects = await renderChart({ valuesFiles: [FULL_VALUES] });
    const secret = (name: string) =>
      objects.find((o) => o.kind === 'Secret' && o.metadata.name === name)?.stringData as Record<
        string,
        string
      >;
    const password = secret('kubeqa-postgresql').password;
    expect(password).toMatch(/^[A-Za-z0-9]{32}$/);
    expect(secret('kubeqa-database').url).toBe(
      `postgres://kubeqa:${password}@kubeqa-postgresql.kubeqa.svc:5432/kubeqa`,
    );
    const s3 = objects.filter((o) => o.kind === 'Secret' && o.metadata.name === 'kubeqa-s3');
    expect(s3.map((o) => o.metadata.namespace).sort()).toEqual(['kubeqa', 'kubeqa-tests']);
    const minio = secret('kubeqa-minio').rootPassword;
    for (const o of s3) expect((o.stringData as Record<string, string>).S3_SECRET_KEY).toBe(minio);
  });

  it('leaves CRDs out with crds.install=false and without the keep policy with crds.keep=false', async () => {
    const none = await renderChart({ set: ['crds.install=false'] });
    expect(none.filter((o) => o.kind === 'CustomResourceDefinition')).toEqual([]);
    const unkept = await renderChart({ set: ['crds.keep=false'] });
    const crds = unkept.filter((o) => o.kind === 'CustomResourceDefinition');
    expect(crds).toHaveLength(3);
    for (const crd of crds) expect(crd.metadata.annotations).toBeUndefined();
  });

  it('refuses OIDC without a client secret, and an HTTPRoute without a Gateway, with a clear message', async () => {
    const oidc = await helm([
      'template',
      'k',
      CHART_DIR,
      '--kube-version',
      KUBE_VERSION,
      '--set',
      'webui.oidc.enabled=true',
    ]);
    expect(oidc.code).not.toBe(0);
    expect(oidc.stderr).toContain('webui.oidc.clientSecret or webui.oidc.existingSecret is required');
    const route = await helm([
      'template',
      'k',
      CHART_DIR,
      '--kube-version',
      KUBE_VERSION,
      '--set',
      'webui.httpRoute.enabled=true',
    ]);
    expect(route.code).not.toBe(0);
    expect(route.stderr).toContain('webui.httpRoute.parentRefs needs at least one Gateway');
  });

  it('puts everything in the release namespace with jobs.namespace="" (no Namespace object, one S3 Secret)', async () => {
    const objects = await renderChart({ namespace: 'qa', set: ['jobs.namespace='] });
    expect(objects.filter((o) => o.kind === 'Namespace')).toEqual([]);
    const namespaced = objects.filter((o) => o.kind !== 'CustomResourceDefinition');
    expect(new Set(namespaced.map((o) => o.metadata.namespace))).toEqual(new Set(['qa']));
    expect(objects.filter((o) => o.kind === 'Secret' && o.metadata.name === 'kubeqa-s3')).toHaveLength(1);
    const config = findObject(objects, 'ConfigMap', 'kubeqa-operator').data as Record<string, string>;
    expect(config.KUBEQA_WATCH_NAMESPACE).toBe('qa');
  });

  it('refers to existing Secrets instead of rendering them', async () => {
    const objects = await renderChart({
      set: [
        'database.existingSecret=pg',
        'database.existingSecretKey=uri',
        's3.existingSecret=s3',
        'webui.admin.existingSecret=admin',
        'webui.oidc.enabled=true',
        'webui.oidc.existingSecret=oidc',
      ],
    });
    expect(objects.filter((o) => o.kind === 'Secret')).toEqual([]);
    const webui = findObject(objects, 'Deployment', 'kubeqa-webui');
    const container = (
      webui.spec as {
        template: {
          spec: {
            containers: Array<{
              env: Array<{ name: string; valueFrom?: unknown }>;
              envFrom: Array<{ secretRef?: { name: string } }>;
            }>;
          };
        };
      }
    ).template.spec.containers[0]!;
    expect(container.env.find((e) => e.name === 'KUBEQA_DATABASE_URL')?.valueFrom).toEqual({
      secretKeyRef: { name: 'pg', key: 'uri' },
    });
    expect(container.envFrom.flatMap((e) => (e.secretRef ? [e.secretRef.name] : []))).toEqual([
      's3',
      'admin',
      'oidc',
    ]);
    const config = findObject(objects, 'ConfigMap', 'kubeqa-operator').data as Record<string, string>;
    expect(config.KUBEQA_STORAGE_SECRET).toBe('s3');
  });

  it('passes the KVM device choice and leader election through to the operator', async () => {
    const objects = await renderChart({
      set: ['jobs.kvmDevice=resource:devices.kubevirt.io/kvm', 'operator.leaderElection.enabled=false'],
    });
    const config = findObject(objects, 'ConfigMap', 'kubeqa-operator').data as Record<string, string>;
    expect(config.KUBEQA_KVM_DEVICE).toBe('resource:devices.kubevirt.io/kvm');
    expect(config.KUBEQA_LEADER_ELECTION).toBe('false');
    expect(objects.find((o) => o.metadata.name === 'kubeqa-operator-leader-election')).toBeUndefined();
  });
});
