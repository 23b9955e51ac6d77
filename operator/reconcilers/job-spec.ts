// A Job CR's spec, validated, as what the database needs; and the group of Jobs that must be
// ingested together (directly chained and parallel neighbours, so the scheduler sees a sequence
// or a cluster whole, never its first member alone). Pure.
import { KubeqaError } from '../../domain/errors.js';
import type { MultiSettings } from '../../domain/jobs/create-params.js';
import type { DependencyType } from '../../domain/jobs/dependencies.js';
import type { KubeObject } from '../controller/informer.js';
import { parseSchedulingSettings } from '../scheduler/settings.js';

export const JOB_FINALIZER = 'kubeqa.io/job';
/** On a Job CR the operator created for a job posted through the API: that job's id. */
export const ANNOTATION_JOB_ID = 'kubeqa.io/job-id';
/** `api` on mirror CRs of API jobs. */
export const LABEL_ORIGIN = 'kubeqa.io/origin';

export interface JobCr extends KubeObject {
  spec?: {
    settings?: Record<string, unknown>;
    priority?: number;
    dependencies?: { startAfter?: string[]; startDirectlyAfter?: string[]; parallelWith?: string[] };
    ttlSecondsAfterFinished?: number;
    suspend?: boolean;
  };
  status?: Record<string, unknown> & { conditions?: never[] };
}

export interface JobSpecView {
  settings: MultiSettings;
  priority: number;
  /** Parent Job names by dependency type. */
  parents: Array<{ name: string; type: DependencyType }>;
}

const SETTING_NAME = /^[A-Z_+][A-Z0-9_]*(\[\])?$/;

function invalid(cr: JobCr, field: string, what: string, hint: string): KubeqaError {
  return new KubeqaError(
    'KQ_ERR_INVALID_SETTING',
    `Job ${cr.metadata.namespace ?? 'default'}/${cr.metadata.name}: ${field} ${what}`,
    hint,
  );
}

/** The spec as the database stores it; throws KQ_ERR_INVALID_SETTING naming the field. */
export function jobSpecOf(cr: JobCr): JobSpecView {
  const spec = cr.spec ?? {};
  const raw = spec.settings ?? {};
  const settings: MultiSettings = {};
  for (const [key, value] of Object.entries(raw)) {
    if (!SETTING_NAME.test(key))
      throw invalid(cr, `spec.settings.${key}`, 'is not a setting name', 'use upper-case names like HDD_1');
    if (typeof value !== 'string')
      throw invalid(cr, `spec.settings.${key}`, 'is not a string', 'quote the value in YAML ("1024")');
    settings[key] = [value];
  }
  if (!settings.TEST?.[0])
    throw invalid(cr, 'spec.settings.TEST', 'is missing', 'set TEST to the test suite name');
  const flat = Object.fromEntries(Object.entries(settings).map(([k, v]) => [k, v[0] as string]));
  try {
    parseSchedulingSettings(flat);
  } catch (error) {
    throw invalid(cr, 'spec.settings', (error as Error).message, 'fix the setting and apply again');
  }
  const priority = spec.priority ?? 50;
  if (!Number.isInteger(priority) || priority < -100 || priority > 1000)
    throw invalid(cr, 'spec.priority', `is ${priority}`, 'use an integer from -100 to 1000');
  const deps = spec.dependencies ?? {};
  const parents: JobSpecView['parents'] = [];
  const add = (names: string[] | undefined, type: DependencyType, field: string) => {
    for (const name of names ?? []) {
      if (name === cr.metadata.name)
        throw invalid(cr, `spec.dependencies.${field}`, 'names the Job itself', 'remove its own name');
      parents.push({ name, type });
    }
  };
  add(deps.startAfter, 'chained', 'startAfter');
  add(deps.startDirectlyAfter, 'directly_chained', 'startDirectlyAfter');
  add(deps.parallelWith, 'parallel', 'parallelWith');
  return { settings, priority, parents };
}

/**
 * The Jobs (names, in one namespace) to ingest together with `name`: everything connected to it
 * through startDirectlyAfter or parallelWith, in either direction. `specOf` gives a Job's parsed
 * spec (undefined: no such Job, reported as missing); `dependentsOf` the Jobs naming it as a
 * directly chained or parallel parent.
 */
export function ingestGroup(
  name: string,
  specOf: (name: string) => Pick<JobSpecView, 'parents'> | undefined,
  dependentsOf: (name: string) => Iterable<string>,
): { members: string[]; missing: string[] } {
  const members: string[] = [];
  const missing: string[] = [];
  const seen = new Set([name]);
  const queue = [name];
  while (queue.length > 0) {
    const current = queue.shift() as string;
    const spec = specOf(current);
    if (!spec) {
      missing.push(current);
      continue;
    }
    members.push(current);
    const next = [
      ...spec.parents.filter((p) => p.type !== 'chained').map((p) => p.name),
      ...dependentsOf(current),
    ];
    for (const other of next) {
      if (!seen.has(other)) {
        seen.add(other);
        queue.push(other);
      }
    }
  }
  return { members: members.sort(), missing: missing.sort() };
}

/** A CR's settings for a job posted through the API (only names and values a Job CR accepts). */
export function mirrorSettings(settings: Record<string, string | string[]>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [key, value] of Object.entries(settings)) {
    const text = Array.isArray(value) ? value.join(',') : value;
    if (SETTING_NAME.test(key) && typeof text === 'string' && text.length <= 65536) out[key] = text;
  }
  return out;
}

/** The name of the mirror CR of an API job. */
export function mirrorName(jobId: number): string {
  return `job-${jobId}`;
}
