// What the runner tells the API about a job, computed from what runJob writes (pure; no I/O):
// module results in the API's names, a result file's steps as status steps, which files of the
// result directory are artefacts.
import type { ModuleFlags, ModuleResultName, StepDetail } from '../../domain/runner/results.js';
import type { ModuleStatus, StatusStep } from '../../domain/runner/status.js';

/** os-autoinst's module result → the API's. */
export function apiModuleResult(result: ModuleResultName): ModuleStatus['result'] {
  switch (result) {
    case 'ok':
      return 'passed';
    case 'fail':
      return 'failed';
    case 'softfail':
      return 'softfailed';
    case 'skip':
      return 'skipped';
    case 'canceled':
      return 'canceled';
    default:
      return 'none';
  }
}

export function moduleFlags(flags: ModuleFlags): Pick<ModuleStatus, 'milestone' | 'fatal' | 'important'> {
  return {
    ...(flags.milestone ? { milestone: true } : {}),
    ...(flags.fatal ? { fatal: true } : {}),
    ...(flags.ignore_failure ? {} : { important: true }),
  };
}

/** Longest text of a text step sent inline (the whole file is an artefact anyway). */
export const MAX_INLINE_TEXT = 64 * 1024;

/**
 * A module's steps from its result-<module>.json details. `hashOf(file)` gives the SHA-256 of a
 * testresults/ file already uploaded; `textOf(file)` its content (text steps).
 */
export function statusSteps(
  details: readonly StepDetail[],
  hashOf: (file: string) => string | undefined,
  textOf: (file: string) => string | undefined,
): StatusStep[] {
  return details.map((detail, index): StatusStep => {
    const step: StatusStep = {
      num: index + 1,
      kind: detail.screenshot ? 'screen' : detail.title === 'wait_serial' ? 'serial' : 'text',
      result: detail.result,
      details: detail,
    };
    if (detail.title) step.title = detail.title;
    if (detail.needle) step.needle = detail.needle;
    const areas = detail.area ?? [];
    if (areas.length > 0) step.similarity = Math.min(...areas.map((a) => a.similarity));
    if (detail.screenshot) {
      const hash = hashOf(detail.screenshot);
      if (hash) step.screenshot = hash;
    }
    if (detail.text) {
      const text = textOf(detail.text);
      if (text !== undefined)
        step.text = text.length > MAX_INLINE_TEXT ? `${text.slice(0, MAX_INLINE_TEXT)}\n[…]` : text;
    }
    return step;
  });
}

/** Files of a result directory (relative paths) that are results; QEMU's own files are not. */
export function isResultFile(relativePath: string): boolean {
  if (relativePath.includes('..') || relativePath.startsWith('/')) return false;
  if (/^(testresults|ulogs)\/[A-Za-z0-9._-][A-Za-z0-9._/-]*$/.test(relativePath)) return true;
  return /^(autoinst-log\.txt|serial\d*\.txt|serial_terminal\.txt|vars\.json|job-result\.json|video\.webm)$/.test(
    relativePath,
  );
}
