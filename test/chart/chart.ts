// Rendering the Helm chart with the harness's pinned helm, and small helpers the chart tests share.
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { parseAllDocuments } from 'yaml';
import type { ManifestObject } from '../../operator/kube/crds.js';
import { packageRoot } from '../../runtime/package-root.js';
import { testEnv } from '../env/index.js';

const execFileAsync = promisify(execFile);

export const CHART_DIR = join(packageRoot(), 'charts', 'kubeqa');
export const FULL_VALUES = join(CHART_DIR, 'ci', 'full-values.yaml');
/** The harness's kube-apiserver version: `helm template` otherwise assumes its built-in default. */
export const KUBE_VERSION = '1.35.4';

export interface HelmResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs the pinned helm; resolves with the exit code instead of throwing. */
export async function helm(args: string[]): Promise<HelmResult> {
  const { helm: bin } = await testEnv.helm();
  try {
    const { stdout, stderr } = await execFileAsync(bin, args, { maxBuffer: 64 * 1024 * 1024 });
    return { code: 0, stdout, stderr };
  } catch (error) {
    const e = error as { code?: number; stdout?: string; stderr?: string };
    return { code: typeof e.code === 'number' ? e.code : 1, stdout: e.stdout ?? '', stderr: e.stderr ?? '' };
  }
}

export interface RenderOptions {
  release?: string;
  namespace?: string;
  valuesFiles?: string[];
  set?: string[];
}

/** `helm template` of the chart as objects (hooks included), failing with helm's message. */
export async function renderChart(options: RenderOptions = {}): Promise<ManifestObject[]> {
  const args = [
    'template',
    options.release ?? 'kubeqa',
    CHART_DIR,
    '--namespace',
    options.namespace ?? 'kubeqa',
    '--kube-version',
    KUBE_VERSION,
  ];
  for (const file of options.valuesFiles ?? []) args.push('--values', file);
  for (const set of options.set ?? []) args.push('--set', set);
  const result = await helm(args);
  if (result.code !== 0) throw new Error(`helm template failed: ${result.stderr}`);
  return parseAllDocuments(result.stdout)
    .map((doc) => doc.toJS() as ManifestObject | null)
    .filter((obj): obj is ManifestObject => obj !== null);
}

export function findObject(objects: ManifestObject[], kind: string, name: string): ManifestObject {
  const found = objects.find((o) => o.kind === kind && o.metadata.name === name);
  if (!found) {
    const have = objects.map((o) => `${o.kind}/${o.metadata.name}`).join(', ');
    throw new Error(`no ${kind}/${name} in the rendered chart (have ${have})`);
  }
  return found;
}
