// Result files in os-autoinst's layout (testresults/result-<module>.json, test_order.json) and
// the job's overall result computed as openQA does. Types and pure functions only.
import type { JobResult } from '../jobs/states.js';

/** A module's or a step's result with os-autoinst's names. */
export type StepResult = 'ok' | 'fail' | 'softfail' | 'unk';
export type ModuleResultName = 'ok' | 'fail' | 'softfail' | 'skip' | 'na' | 'canceled';

/** One area of a matched needle or of a candidate, as openQA's result JSON shows it. */
export interface AreaDetail {
  x: number;
  y: number;
  w: number;
  h: number;
  /** Similarity in percent (0..100, integer), as os-autoinst writes it. */
  similarity: number;
  result: 'ok' | 'fail';
  click_point?: { xpos: number; ypos: number } | 'center';
}

export interface NeedleCandidateDetail {
  name: string;
  /** The needle's JSON file. */
  json: string;
  /** Error (1 − similarity), as os-autoinst reports it. */
  error: number;
  area: AreaDetail[];
}

/** One step of a module (a "detail"). Fields appear as in os-autoinst's result JSON. */
export interface StepDetail {
  result: StepResult;
  /** Screenshot file in testresults/ (deduplicated: identical screens share one file). */
  screenshot?: string;
  /** [start, end] in seconds into video.webm. */
  frametime?: [string, string];
  /** A matched needle. */
  needle?: string;
  json?: string;
  area?: AreaDetail[];
  properties?: { name: string; value?: string }[];
  tags?: string[];
  /** Candidates that did not match (on a failed or unmatched check). */
  needles?: NeedleCandidateDetail[];
  /** A text result (wait_serial, record_info, soft failure, the "Test died" message). */
  title?: string;
  text?: string;
  /** 1 when a workaround needle or soft failure made this step a dent. */
  dent?: number;
}

export interface ModuleResultFile {
  details: StepDetail[];
  result: ModuleResultName;
  dents: number;
  execution_time: number;
}

export interface ModuleFlags {
  fatal?: boolean;
  ignore_failure?: boolean;
  milestone?: boolean;
  always_run?: boolean;
}

/** An entry of test_order.json. */
export interface TestOrderEntry {
  name: string;
  category: string;
  script: string;
  flags: ModuleFlags;
}

/** What the runner writes as job-result.json next to testresults/. */
export interface JobResultFile {
  result: JobResult;
  /** Why the job is incomplete (or timed out / was cancelled). */
  reason?: string;
  modules: { name: string; category: string; result: ModuleResultName; flags: ModuleFlags }[];
  started: string;
  finished: string;
  accelerator?: string;
}

/**
 * The job's result from its modules, as openQA computes it: a failed module (unless it has
 * ignore_failure) makes the job failed; otherwise a soft-failed one makes it softfailed;
 * otherwise passed. Modules that did not run (skip/na/canceled) do not count. No module that
 * ran at all is a failure, and a job the runner could not finish is incomplete with a reason.
 */
export function overallResult(
  modules: { result: ModuleResultName; flags: ModuleFlags }[],
  abort?: { result: 'incomplete' | 'timeout_exceeded' | 'user_cancelled'; reason: string },
): { result: JobResult; reason?: string } {
  if (abort) return { result: abort.result, reason: abort.reason };
  let overall: JobResult | undefined;
  for (const module of modules) {
    if (module.result === 'ok') overall ??= 'passed';
    else if (module.result === 'softfail') {
      if (overall !== 'failed') overall = 'softfailed';
    } else if (module.result === 'fail') {
      if (module.flags.ignore_failure) continue;
      overall = 'failed';
    }
  }
  if (!overall) {
    return modules.length === 0
      ? { result: 'incomplete', reason: 'no test module was scheduled' }
      : { result: 'failed', reason: 'no test module ran to completion' };
  }
  return { result: overall };
}

/** A module's result from its steps, as os-autoinst's record_testresult folds them. */
export function foldStepResult(
  current: ModuleResultName | undefined,
  step: StepResult,
): ModuleResultName | undefined {
  if (step === 'fail') return 'fail';
  if (step === 'softfail') return current === 'fail' ? 'fail' : 'softfail';
  if (step === 'ok') return current ?? 'ok';
  return current;
}

/** Whether the job stops after this module failed (os-autoinst without snapshots: unless fatal is false). */
export function stopsAfterFailure(flags: ModuleFlags): boolean {
  return flags.fatal !== false;
}

/** Exit code of `kubeqa run`: 0 only for passed and softfailed. */
export function exitCodeFor(result: JobResult): number {
  return result === 'passed' || result === 'softfailed' ? 0 : 1;
}
