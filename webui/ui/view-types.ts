// What the web UI's own endpoints (/api/v1/ui/…) answer: one definition for the server's queries
// (./queries.ts) and the browser's pages (./client/pages/). Types only, and no imports, so the
// browser's type check (its own tsconfig, DOM library) can include this file.

/** One build of a job group on the overview, with its jobs counted by outcome. */
export interface BuildSummary {
  build: string;
  distri: string;
  version: string;
  total: number;
  passed: number;
  softfailed: number;
  failed: number;
  incomplete: number;
  running: number;
  scheduled: number;
  cancelled: number;
  newest_job: number;
}

export interface GroupOverview {
  id: number;
  name: string;
  builds: BuildSummary[];
}

/** A cell of the build matrix: the latest job of one scenario. */
export interface BuildJob {
  id: number;
  test: string;
  machine: string;
  distri: string;
  version: string;
  flavor: string;
  arch: string;
  state: string;
  result: string;
  priority: number;
}

/** A test step on the job page; `Details` is the step's JSON details as the runner wrote them. */
export interface PageStep<Details = unknown> {
  num: number;
  kind: string;
  result: string;
  title: string | null;
  text: string | null;
  needle: string | null;
  similarity: number | null;
  screenshot: string | null;
  details: Details | null;
}

export interface PageModule<Details = unknown> {
  name: string;
  category: string;
  result: string;
  flags: string[];
  steps: PageStep<Details>[];
}
