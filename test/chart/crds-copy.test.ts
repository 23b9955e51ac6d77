// One source of truth for the CRDs: the chart's files/crds must equal crds/ byte for byte (Helm
// cannot read outside the chart directory), and the chart renders them unchanged apart from the
// keep annotation.
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { kubeqaCrds } from '../../operator/kube/crds.js';
import { packageRoot } from '../../runtime/package-root.js';
import { CHART_DIR, renderChart } from './chart.js';

const SOURCE = join(packageRoot(), 'crds');
const COPY = join(CHART_DIR, 'files', 'crds');

describe('the chart’s CRDs', () => {
  it('are an exact copy of crds/ (fix: cp crds/*.yaml charts/kubeqa/files/crds/)', () => {
    const source = readdirSync(SOURCE)
      .filter((f) => f.endsWith('.yaml'))
      .sort();
    const copy = readdirSync(COPY)
      .filter((f) => f.endsWith('.yaml'))
      .sort();
    expect(copy).toEqual(source);
    const differing = source.filter(
      (file) => readFileSync(join(SOURCE, file), 'utf8') !== readFileSync(join(COPY, file), 'utf8'),
    );
    expect(differing, 'run: cp crds/*.yaml charts/kubeqa/files/crds/').toEqual([]);
  });

  it('render as crds/ plus helm.sh/resource-policy: keep', async () => {
    const rendered = (await renderChart()).filter((o) => o.kind === 'CustomResourceDefinition');
    const expected = kubeqaCrds();
    expect(rendered.map((c) => c.metadata.name).sort()).toEqual(expected.map((c) => c.metadata.name).sort());
    for (const crd of expected) {
      const got = rendered.find((c) => c.metadata.name === crd.metadata.name)!;
      expect(got.metadata.annotations).toEqual({ 'helm.sh/resource-policy': 'keep' });
      const { annotations: _, ...metadata } = got.metadata;
      expect({ ...got, metadata }).toEqual(crd);
    }
  });
});
