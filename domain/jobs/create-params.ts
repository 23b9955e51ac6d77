// `POST /api/v1/jobs` parameters → the jobs to create, with openQA's conventions:
//   KEY=value            a setting of every job in the request
//   KEY:suffix=value     a setting of the job named by `suffix` (TEST:0=a TEST:1=b makes two jobs)
//   KEY=a&KEY=b, KEY[]=  several values of one setting (WORKER_CLASS a worker must all have)
//   _START_AFTER(:s)=x   chained parent(s): suffixes of this request or ids of existing jobs
//   _START_DIRECTLY_AFTER, _PARALLEL    the same for the other two dependency types
//   _GROUP / _GROUP_ID   the job group; _PRIORITY the priority
// Pure.
import { KubeqaError } from '../errors.js';
import type { DependencyType } from './dependencies.js';

export type ParamValue = string | string[];
export type Params = Record<string, ParamValue | undefined>;

/** A job's settings: key → one or several values. */
export type MultiSettings = Record<string, string[]>;

export interface JobRequest {
  suffix: string;
  settings: MultiSettings;
  groupName?: string;
  groupId?: number;
  priority?: number;
  /** Parents in this request (by suffix) or existing jobs (by id). */
  parents: { type: DependencyType; suffix?: string; jobId?: number }[];
}

const DEP_KEYS: Record<string, DependencyType> = {
  _START_AFTER: 'chained',
  _START_AFTER_JOBS: 'chained',
  _START_DIRECTLY_AFTER: 'directly_chained',
  _START_DIRECTLY_AFTER_JOBS: 'directly_chained',
  _PARALLEL: 'parallel',
  _PARALLEL_JOBS: 'parallel',
};

function values(value: ParamValue | undefined): string[] {
  if (value === undefined) return [];
  return Array.isArray(value) ? value.map(String) : [String(value)];
}

export function parseJobCreation(params: Params): JobRequest[] {
  const shared: [string, string[]][] = [];
  const perSuffix = new Map<string, [string, string[]][]>();
  for (const [rawKey, raw] of Object.entries(params)) {
    if (raw === undefined) continue;
    let key = rawKey.endsWith('[]') ? rawKey.slice(0, -2) : rawKey;
    const colon = key.indexOf(':');
    const vals = values(raw);
    if (colon >= 0) {
      const suffix = key.slice(colon + 1);
      key = key.slice(0, colon);
      if (!key || !suffix) {
        throw new KubeqaError(
          'KQ_ERR_INVALID_ARGUMENT',
          `bad parameter name '${rawKey}'`,
          'use KEY or KEY:suffix',
        );
      }
      const list = perSuffix.get(suffix) ?? [];
      list.push([key, vals]);
      perSuffix.set(suffix, list);
    } else {
      shared.push([key, vals]);
    }
  }
  const suffixes = perSuffix.size > 0 ? [...perSuffix.keys()] : [''];
  const jobs: JobRequest[] = suffixes.map((suffix) => {
    const job: JobRequest = { suffix, settings: {}, parents: [] };
    for (const [key, vals] of [...shared, ...(perSuffix.get(suffix) ?? [])]) {
      if (key in DEP_KEYS) {
        const type = DEP_KEYS[key] as DependencyType;
        for (const ref of vals
          .flatMap((v) => v.split(','))
          .map((s) => s.trim())
          .filter(Boolean)) {
          if (perSuffix.has(ref) && !key.endsWith('_JOBS')) job.parents.push({ type, suffix: ref });
          else if (/^\d+$/.test(ref)) job.parents.push({ type, jobId: Number(ref) });
          else {
            throw new KubeqaError(
              'KQ_ERR_INVALID_ARGUMENT',
              `${key}${suffix ? `:${suffix}` : ''}=${ref} names neither a job of this request nor a job id`,
              'give the suffix of another TEST:suffix in the same request, or an existing job id',
            );
          }
        }
      } else if (key === '_GROUP') job.groupName = vals.at(-1);
      else if (key === '_GROUP_ID' || key === 'group_id') job.groupId = intParam(key, vals.at(-1));
      else if (key === '_PRIORITY' || key === 'priority') job.priority = intParam(key, vals.at(-1));
      else if (key.startsWith('_')) continue;
      else job.settings[key] = [...(job.settings[key] ?? []), ...vals];
    }
    // one value per key except the multi-value ones: a later plain value wins, as in openQA
    for (const [key, vals] of Object.entries(job.settings)) {
      if (vals.length > 1 && key !== 'WORKER_CLASS' && !Object.hasOwn(params, `${key}[]`)) {
        job.settings[key] = [vals.at(-1) as string];
      }
    }
    if (!job.settings.TEST?.[0]) {
      throw new KubeqaError(
        'KQ_ERR_INVALID_ARGUMENT',
        `missing parameter: TEST${suffix ? `:${suffix}` : ''}`,
        'every job needs a TEST name',
      );
    }
    return job;
  });
  for (const job of jobs) {
    for (const p of job.parents) {
      if (p.suffix === job.suffix) {
        throw new KubeqaError('KQ_ERR_INVALID_ARGUMENT', `job ${job.suffix} cannot depend on itself`);
      }
    }
  }
  return jobs;
}

function intParam(key: string, value: string | undefined): number {
  if (value === undefined || !/^-?\d+$/.test(value)) {
    throw new KubeqaError('KQ_ERR_INVALID_ARGUMENT', `${key} must be an integer, got '${value ?? ''}'`);
  }
  return Number(value);
}
