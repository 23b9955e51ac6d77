// The chart and operator/config.ts agree: every variable the operator reads is set by the chart's
// Deployment (or deliberately left to its default, listed here with the reason), and the chart
// sets nothing the operator does not read.
import { describe, expect, it } from 'vitest';
import { OPERATOR_ENV, operatorConfigFromEnv } from '../../operator/config.js';
import { FULL_VALUES, findObject, renderChart } from './chart.js';

/** Operator variables the chart leaves to their defaults, and why. */
const LEFT_TO_DEFAULT: Record<string, string> = {
  KUBEQA_CACHE_IMAGE: 'the asset-cache sidecar lives in the runner image',
  KUBEQA_LEADER_ELECTION_NAMESPACE: 'the Lease lives in the pod’s namespace, where its Role is',
  KUBEQA_WEB_URL: 'status.url falls back to the in-cluster API URL until an external URL is configured',
  KUBEQA_MIRROR_API_JOBS: 'mirroring API jobs as Job CRs is on by default',
  KUBEQA_JOBS_NAMESPACE: 'mirrors go to the watched jobs namespace',
  KUBEQA_INGEST_SETTLE_MS: 'a tuning knob; the default fits',
  KUBEQA_STATUS_COALESCE_MS: 'a tuning knob; the default fits',
  KUBEQA_POD_GRACE_SECONDS: 'a tuning knob; the default fits',
};
/** Variables every kubeqa process reads (docs/configuration.md), not only the operator. */
const COMMON = ['KUBEQA_LOG_LEVEL'];

describe.each([
  { name: 'default values', valuesFiles: [] as string[] },
  { name: 'full example values', valuesFiles: [FULL_VALUES] },
])('the operator’s environment with the $name', ({ valuesFiles }) => {
  it('covers what operator/config.ts reads, and only that', async () => {
    const objects = await renderChart({ valuesFiles });
    const config = findObject(objects, 'ConfigMap', 'kubeqa-operator').data as Record<string, string>;
    const deployment = findObject(objects, 'Deployment', 'kubeqa-operator');
    const container = (
      deployment.spec as { template: { spec: { containers: Array<{ env: Array<{ name: string }> }> } } }
    ).template.spec.containers[0]!;
    const set = new Set([...Object.keys(config), ...container.env.map((e) => e.name)]);
    const missing = Object.keys(OPERATOR_ENV).filter((name) => !set.has(name) && !(name in LEFT_TO_DEFAULT));
    expect(missing).toEqual([]);
    const unknown = [...set].filter((name) => !(name in OPERATOR_ENV) && !COMMON.includes(name));
    // extraEnv of the full example sets KUBEQA_PRIORITY_CLASS again: still a known variable.
    expect(unknown).toEqual([]);
  });

  it('is accepted by the operator’s own validation', async () => {
    const objects = await renderChart({ valuesFiles });
    const config = findObject(objects, 'ConfigMap', 'kubeqa-operator').data as Record<string, string>;
    const parsed = operatorConfigFromEnv({
      ...config,
      POD_NAME: 'kubeqa-operator-0',
      POD_NAMESPACE: 'kubeqa',
      KUBEQA_DATABASE_URL: 'postgres://kubeqa:secret@db:5432/kubeqa',
    });
    expect(parsed.leaderElection).toMatchObject({
      enabled: true,
      namespace: 'kubeqa',
      name: 'kubeqa-operator',
    });
    expect(parsed.pods.runnerImage).toMatch(/kubeqa-worker/);
    expect(parsed.healthPort).toBe(8080);
  });
});
