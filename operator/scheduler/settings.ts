// Job settings the scheduler reads, parsed and validated once (at job creation, by whoever stores
// the job) so the decision works on numbers and sorted class lists.
import { KubeqaError } from '../../domain/errors.js';

export const DEFAULT_PRIORITY = 50;
export const DEFAULT_MAX_SETUP_SECONDS = 3600;
export const DEFAULT_MAX_JOB_SECONDS = 7200;

export interface SchedulingSettings {
  readonly workerClasses: readonly string[];
  readonly maxSetupSeconds: number;
  readonly maxJobSeconds: number;
  readonly timeoutScale: number;
  readonly retry: number;
  readonly cancelWholeCluster: boolean;
}

/** WORKER_CLASS "qemu_x86_64, tap" → ["qemu_x86_64", "tap"] (sorted, unique, empty parts dropped). */
export function parseWorkerClasses(value: string | undefined): string[] {
  if (value === undefined) return [];
  return [
    ...new Set(
      value
        .split(',')
        .map((part) => part.trim())
        .filter((part) => part.length > 0),
    ),
  ].sort();
}

function positiveNumber(settings: Readonly<Record<string, string>>, name: string, fallback: number): number {
  const raw = settings[name];
  if (raw === undefined || raw.trim() === '') return fallback;
  const value = Number(raw);
  if (!Number.isFinite(value) || value <= 0)
    throw new KubeqaError(
      'KQ_ERR_INVALID_SETTING',
      `${name}=${JSON.stringify(raw)} is not a positive number`,
      `set ${name} to a number of seconds (or a factor for TIMEOUT_SCALE), or leave it unset`,
    );
  return value;
}

/** RETRY "3" or "3:bsc#1234 flaky" → 3. */
function parseRetry(raw: string | undefined): number {
  if (raw === undefined || raw.trim() === '') return 0;
  const count = raw.split(':', 1)[0]!.trim();
  if (!/^\d+$/.test(count))
    throw new KubeqaError(
      'KQ_ERR_INVALID_SETTING',
      `RETRY=${JSON.stringify(raw)} does not start with a count`,
      'write RETRY=<n> or RETRY=<n>:<description>, e.g. RETRY=2:flaky network',
    );
  return Number(count);
}

/** The scheduling-relevant settings of a job, validated (throws KQ_ERR_INVALID_SETTING). */
export function parseSchedulingSettings(settings: Readonly<Record<string, string>>): SchedulingSettings {
  const cancelWhole = settings.PARALLEL_CANCEL_WHOLE_CLUSTER;
  return {
    workerClasses: parseWorkerClasses(settings.WORKER_CLASS),
    maxSetupSeconds: positiveNumber(settings, 'MAX_SETUP_TIME', DEFAULT_MAX_SETUP_SECONDS),
    maxJobSeconds: positiveNumber(settings, 'MAX_JOB_TIME', DEFAULT_MAX_JOB_SECONDS),
    timeoutScale: positiveNumber(settings, 'TIMEOUT_SCALE', 1),
    retry: parseRetry(settings.RETRY),
    // openQA: only an explicit false value (0, empty) turns it off
    cancelWholeCluster: cancelWhole === undefined || !['0', '', 'false', 'no'].includes(cancelWhole.trim()),
  };
}
