// The job page's data as GET /api/v1/ui/jobs/:id returns it.
import type { PageModule, PageStep } from '../../view-types.js';

export interface Area {
  x: number;
  y: number;
  w: number;
  h: number;
  similarity: number;
  result: string;
}

export interface Candidate {
  name: string;
  json?: string;
  error: number;
  area: Area[];
}

export interface StepDetails {
  area?: Area[];
  needles?: Candidate[];
  tags?: string[];
  frametime?: [string, string];
}

export type Step = PageStep<StepDetails>;
export type Module = PageModule<StepDetails>;

export interface Job {
  id: number;
  name: string;
  test: string;
  state: string;
  result: string;
  reason: string | null;
  priority: number;
  clone_id: number | null;
  group_id: number | null;
  group: string | null;
  t_started: string | null;
  t_finished: string | null;
  settings: Record<string, string>;
}

export interface JobPageData {
  job: Job;
  modules: Module[];
  files: { name: string; size: number; content_type: string }[];
  comments: { id: number; text: string; user: string; created: string }[];
  dependencies: {
    nodes: { id: number; test: string; state: string; result: string }[];
    edges: { parent: number; child: number; type: string }[];
  };
  live: { frames: number; viewers: number };
}

/** The similarity of a candidate: its worst area, in percent. */
export function candidateSimilarity(c: Candidate): number {
  return c.area.length === 0 ? 0 : Math.min(...c.area.map((a) => a.similarity));
}
