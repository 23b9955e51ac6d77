// Product expansion (`POST /api/v1/isos`): a build posted for DISTRI/VERSION/FLAVOR/ARCH becomes
// one job per matching job template (product × machine × test suite in a job group), with the
// settings of every layer merged (see settings.ts), dependencies between the new jobs resolved
// from START_AFTER_TEST / START_DIRECTLY_AFTER_TEST / PARALLEL_WITH, and cycles refused.
// Pure: the caller loads the templates and writes the result in one transaction.

import { KubeqaError } from '../errors.js';
import { DEPENDENCY_SETTINGS, DEPENDENCY_TYPES, type Edge, nodesOnCycles } from '../jobs/dependencies.js';
import { assetsOfSettings, expandPlaceholders, mergeSettings, type Settings } from './settings.js';

/** One job template with everything it refers to, as the database gives it. */
export interface TemplateRow {
  templateId: number;
  /** The template's own test name (YAML `testsuite:` renaming), '' when none. */
  name: string;
  prio: number | null;
  settings: Settings;
  group: { id: number; name: string; defaultPriority: number };
  product: { distri: string; version: string; flavor: string; arch: string; settings: Settings };
  machine: { name: string; backend: string; settings: Settings };
  testSuite: { name: string; settings: Settings };
}

export interface PlannedJob {
  /** Index in `jobs`, used by `edges`. */
  key: number;
  test: string;
  machine: string;
  groupId: number;
  priority: number;
  settings: Settings;
  assets: { type: string; name: string }[];
}

export interface FailedJob {
  job_name: string;
  error_messages: string[];
}

export interface ExpansionPlan {
  jobs: PlannedJob[];
  edges: Edge<number>[];
  failed: FailedJob[];
}

/** Request keys that control scheduling and never become job settings. */
export const CONTROL_KEYS = ['TEST', 'MACHINE'];

export const REQUIRED_PRODUCT_KEYS = ['DISTRI', 'VERSION', 'FLAVOR', 'ARCH'] as const;

/** Refuses a post without the four product keys, naming the missing ones. */
export function requireProductKeys(params: Settings): void {
  const missing = REQUIRED_PRODUCT_KEYS.filter((k) => !params[k]);
  if (missing.length > 0) {
    throw new KubeqaError(
      'KQ_ERR_INVALID_ARGUMENT',
      `missing parameter${missing.length > 1 ? 's' : ''}: ${missing.join(', ')}`,
      'an isos post names the product with DISTRI, VERSION, FLAVOR and ARCH',
    );
  }
}

function splitList(value: string | undefined): string[] {
  return (value ?? '')
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s.length > 0);
}

function integerParam(key: string, value: string): number {
  if (!/^-?\d+$/.test(value))
    throw new KubeqaError('KQ_ERR_INVALID_ARGUMENT', `${key} must be an integer, got '${value}'`);
  return Number(value);
}

function truthy(value: string | undefined): boolean {
  return value !== undefined && value !== '' && value !== '0';
}

/** Expands a request over the templates of its product(s). */
export function expandProduct(params: Settings, templates: readonly TemplateRow[]): ExpansionPlan {
  requireProductKeys(params);
  // Which templates take part: _GROUP / _GROUP_ID restrict by job group.
  const groupName = params._GROUP;
  const groupId = params._GROUP_ID ? integerParam('_GROUP_ID', params._GROUP_ID) : undefined;
  const priorityOverride =
    params._PRIORITY !== undefined ? integerParam('_PRIORITY', params._PRIORITY) : undefined;
  const inGroup = templates.filter(
    (t) =>
      (groupName === undefined || t.group.name === groupName) &&
      (groupId === undefined || t.group.id === groupId),
  );

  const request: Settings = {};
  for (const [k, v] of Object.entries(params))
    if (!k.startsWith('_') && !CONTROL_KEYS.includes(k)) request[k] = v;

  const failed: FailedJob[] = [];
  type Candidate = PlannedJob & { error?: string };
  const all: Candidate[] = [];
  for (const t of inGroup) {
    const test = t.name || t.testSuite.name;
    let settings: Settings;
    try {
      const merged = mergeSettings([
        t.product.settings,
        t.machine.settings,
        t.testSuite.settings,
        t.settings,
        request,
      ]);
      merged.TEST = test;
      merged.TEST_SUITE_NAME = t.testSuite.name;
      if (t.name) merged.JOB_TEMPLATE_NAME = t.name;
      merged.MACHINE = t.machine.name;
      merged.BACKEND = t.machine.settings.BACKEND ?? t.machine.backend;
      for (const k of REQUIRED_PRODUCT_KEYS) merged[k] = params[k] as string;
      if (merged.WORKER_CLASS === '') delete merged.WORKER_CLASS;
      settings = expandPlaceholders(merged);
    } catch (error) {
      failed.push({ job_name: test, error_messages: [(error as Error).message] });
      continue;
    }
    const priority = priorityOverride ?? t.prio ?? t.group.defaultPriority;
    all.push({
      key: all.length,
      test,
      machine: t.machine.name,
      groupId: t.group.id,
      priority,
      settings,
      assets: assetsOfSettings(settings),
    });
  }

  // Dependencies among all candidates (before the TEST/MACHINE filter, so parents can be pulled in).
  const edges: Edge<number>[] = [];
  const errors = new Map<number, string[]>();
  const addError = (key: number, message: string) => {
    const list = errors.get(key) ?? [];
    list.push(message);
    errors.set(key, list);
  };
  for (const job of all) {
    for (const type of DEPENDENCY_TYPES) {
      const setting = DEPENDENCY_SETTINGS[type];
      for (const ref of splitList(job.settings[setting])) {
        const [refTest, refMachine] = ref.split('@') as [string, string | undefined];
        const wanted = refMachine ?? job.machine;
        const parents = all.filter((p) => p.test === refTest && p.machine === wanted && p.key !== job.key);
        if (parents.length === 0) {
          addError(job.key, `${setting}=${ref} not found - check for dependency typos and dependency cycles`);
          continue;
        }
        for (const p of parents) edges.push({ child: job.key, parent: p.key, type });
      }
    }
  }
  for (const key of nodesOnCycles(
    all.map((j) => j.key),
    edges,
  )) {
    addError(key, 'there is a cycle in the dependencies of this job');
  }

  // TEST / MACHINE filters; chained parents come along unless _SKIP_CHAINED_DEPS; children only
  // with _INCLUDE_CHILDREN; parallel clusters always whole.
  const testFilter = splitList(params.TEST);
  const machineFilter = splitList(params.MACHINE);
  let selected = new Set(
    all
      .filter(
        (j) =>
          (testFilter.length === 0 || testFilter.includes(j.test)) &&
          (machineFilter.length === 0 || machineFilter.includes(j.machine)),
      )
      .map((j) => j.key),
  );
  if (testFilter.length > 0 || machineFilter.length > 0) {
    const skipChained = truthy(params._SKIP_CHAINED_DEPS);
    const includeChildren = truthy(params._INCLUDE_CHILDREN);
    let grew = true;
    while (grew) {
      grew = false;
      for (const e of edges) {
        const pullParent =
          selected.has(e.child) && !selected.has(e.parent) && (e.type === 'parallel' || !skipChained);
        const pullChild =
          selected.has(e.parent) && !selected.has(e.child) && (e.type === 'parallel' || includeChildren);
        if (pullParent) selected.add(e.parent);
        if (pullChild) selected.add(e.child);
        if (pullParent || pullChild) grew = true;
      }
    }
  }

  // A job fails with its own errors, or when a job it depends on (within the selection) fails.
  let changed = true;
  while (changed) {
    changed = false;
    for (const e of edges) {
      if (!selected.has(e.child) || !selected.has(e.parent)) continue;
      if (errors.has(e.parent) && !errors.has(e.child)) {
        const parent = all[e.parent] as Candidate;
        addError(e.child, `depends on ${parent.test}@${parent.machine}, which could not be scheduled`);
        changed = true;
      }
    }
  }
  const keep = all.filter((j) => selected.has(j.key) && !errors.has(j.key));
  for (const j of all) {
    if (selected.has(j.key) && errors.has(j.key)) {
      failed.push({ job_name: `${j.test}@${j.machine}`, error_messages: errors.get(j.key) ?? [] });
    }
  }
  // Renumber keys densely over the kept jobs.
  const renumber = new Map(keep.map((j, i) => [j.key, i]));
  selected = new Set(renumber.keys());
  return {
    jobs: keep.map((j, i) => ({ ...j, key: i })),
    edges: edges
      .filter((e) => selected.has(e.child) && selected.has(e.parent))
      .map((e) => ({
        ...e,
        child: renumber.get(e.child) as number,
        parent: renumber.get(e.parent) as number,
      })),
    failed,
  };
}

/** What happens to jobs of other builds of the same product on this post. */
export interface ObsoletionPolicy {
  mode: 'none' | 'obsolete' | 'deprioritize';
  sameBuildOnly: boolean;
  /** deprioritize: priority added to each older job, and the limit above which it is cancelled instead. */
  step: number;
  limit: number;
}

export function obsoletionPolicy(params: Settings): ObsoletionPolicy {
  const limit = params._DEPRIORITIZE_LIMIT !== undefined ? Number(params._DEPRIORITIZE_LIMIT) : 100;
  if (!Number.isFinite(limit)) {
    throw new KubeqaError(
      'KQ_ERR_INVALID_ARGUMENT',
      `_DEPRIORITIZE_LIMIT must be a number, got '${params._DEPRIORITIZE_LIMIT}'`,
    );
  }
  const sameBuildOnly = truthy(params._ONLY_OBSOLETE_SAME_BUILD);
  if (truthy(params._DEPRIORITIZEBUILD)) return { mode: 'deprioritize', sameBuildOnly, step: 10, limit };
  if (truthy(params._OBSOLETE) || sameBuildOnly) return { mode: 'obsolete', sameBuildOnly, step: 0, limit };
  return { mode: 'none', sameBuildOnly, step: 0, limit };
}
