// What a runner reports about a job's modules through POST /api/v1/jobs/:id/status: the runner
// builds it (worker-image/runner/report-status.ts), the API validates it (webui/api/runner.ts)
// and the database keeps it (db/results.ts).

/** A module's result in the API's (openQA's) names. */
export const MODULE_RESULTS = [
  'none',
  'running',
  'passed',
  'softfailed',
  'failed',
  'skipped',
  'canceled',
] as const;

export type ModuleStatusResult = (typeof MODULE_RESULTS)[number];

/** One step of a module: a screen check, serial or text output, or a sound. */
export interface StatusStep {
  num: number;
  kind: 'screen' | 'serial' | 'text' | 'audio';
  result?: string;
  title?: string;
  text?: string;
  needle?: string;
  similarity?: number;
  /** SHA-256 of the uploaded PNG. */
  screenshot?: string;
  details?: unknown;
}

export interface ModuleStatus {
  name: string;
  category?: string;
  script?: string;
  result: ModuleStatusResult;
  milestone?: boolean;
  important?: boolean;
  fatal?: boolean;
  always_rollback?: boolean;
  steps?: StatusStep[];
}
