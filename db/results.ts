// Test results the runner reports: per-module progress with steps, artefacts by hash, and the
// per-job token that authorises it.
import { randomBytes } from 'node:crypto';
import { KubeqaError } from '../domain/errors.js';
import { FINAL_STATES } from '../domain/jobs/states.js';
import type { ModuleStatus } from '../domain/runner/status.js';
import { sha256 } from '../webui/auth/authenticate.js';
import type { QueryFn } from './connect.js';
import { changeJobStates } from './jobs.js';

/** A new token for the runner of this job; only its hash is kept. Returned once. */
export async function issueJobToken(q: QueryFn, jobId: number): Promise<string> {
  const token = newJobToken();
  await storeJobTokens(q, new Map([[jobId, token]]));
  return token;
}

/** A new job token, not stored yet (`storeJobTokens` makes it valid). */
export function newJobToken(): string {
  return randomBytes(24).toString('base64url');
}

/**
 * Makes tokens made by `newJobToken` the valid ones of their jobs (only their hashes are kept),
 * replacing any earlier token; one query for all.
 */
export async function storeJobTokens(q: QueryFn, tokens: ReadonlyMap<number, string>): Promise<void> {
  if (tokens.size === 0) return;
  const ids = [...tokens.keys()];
  const rows = await q(
    `update jobs set token_hash = t.hash from unnest($1::bigint[], $2::text[]) as t(id, hash)
      where jobs.id = t.id returning jobs.id`,
    [ids, ids.map((id) => sha256(tokens.get(id) as string))],
  );
  if (rows.length !== ids.length) {
    const found = new Set(rows.map((r) => Number(r.id)));
    const missing = ids.filter((id) => !found.has(id));
    throw new KubeqaError(
      'KQ_ERR_NOT_FOUND',
      missing.length === 1 ? `job ${missing[0]} does not exist` : `jobs ${missing.join(', ')} do not exist`,
    );
  }
}

/** Revokes the tokens of jobs that have ended (done or cancelled); others keep theirs. */
export async function revokeJobTokens(q: QueryFn, jobIds: readonly number[]): Promise<void> {
  if (jobIds.length === 0) return;
  await q(
    `update jobs set token_hash = null
      where id = any($1::bigint[]) and state = any($2::text[]) and token_hash is not null`,
    [jobIds, FINAL_STATES],
  );
}

export async function checkJobToken(
  q: QueryFn,
  jobId: number,
  token: string | undefined,
): Promise<{ state: string }> {
  const [row] = await q<{ token_hash: string | null; state: string }>(
    'select token_hash, state from jobs where id = $1',
    [jobId],
  );
  if (!row) throw new KubeqaError('KQ_ERR_NOT_FOUND', `job ${jobId} does not exist`);
  if (!token || !row.token_hash || row.token_hash !== sha256(token)) {
    throw new KubeqaError(
      'KQ_ERR_UNAUTHORIZED',
      `no valid job token for job ${jobId}`,
      'send the token issued for this job in X-Kubeqa-Job-Token',
    );
  }
  return { state: row.state };
}

const RUNNER_STATES = ['assigned', 'setup', 'running', 'uploading'];

/** The states from `from` up to `to` along the runner's part of the life cycle; null when backwards. */
export function forwardSteps(from: string, to: string): string[] | null {
  const a = RUNNER_STATES.indexOf(from);
  const b = RUNNER_STATES.indexOf(to);
  if (a < 0 || b < a) return null;
  return RUNNER_STATES.slice(a + 1, b + 1);
}

/** Writes the modules' state (upsert by name) and their steps; moves the job to running on the first report. */
export async function writeStatus(
  q: QueryFn,
  jobId: number,
  state: string,
  modules: readonly ModuleStatus[],
  reason?: string,
): Promise<void> {
  const [job] = await q<{ state: string }>('select state from jobs where id = $1 for update', [jobId]);
  if (!job) throw new KubeqaError('KQ_ERR_NOT_FOUND', `job ${jobId} does not exist`);
  if (job.state === 'done' || job.state === 'cancelled') {
    throw new KubeqaError('KQ_ERR_CONFLICT', `job ${jobId} is ${job.state}; it takes no more status`);
  }
  const steps = forwardSteps(job.state, state);
  if (steps === null) {
    throw new KubeqaError(
      'KQ_ERR_ILLEGAL_TRANSITION',
      `job ${jobId} is ${job.state}; a runner cannot report it ${state}`,
      job.state === 'scheduled'
        ? 'the job has not been assigned to a runner yet'
        : 'report the states in order: setup, running, uploading',
    );
  }
  // a runner may skip reporting a state (openQA's workers go straight to running)
  for (const step of steps) await changeJobStates(q, [{ id: jobId, state: step }], 'runner');
  if (reason !== undefined && state === 'setup')
    await q('update jobs set reason = $2, t_updated = now() where id = $1 and reason is distinct from $2', [
      jobId,
      reason,
    ]);
  for (const [i, m] of modules.entries()) {
    const [row] = await q<{ id: number }>(
      `insert into job_modules (job_id, name, category, script, result, sort_order, milestone, important, fatal, always_rollback)
       values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
       on conflict (job_id, name) do update set result = excluded.result, category = excluded.category,
         script = excluded.script, milestone = excluded.milestone, important = excluded.important,
         fatal = excluded.fatal, always_rollback = excluded.always_rollback, t_updated = now()
       returning id`,
      [
        jobId,
        m.name,
        m.category ?? '',
        m.script ?? '',
        m.result,
        i,
        !!m.milestone,
        !!m.important,
        !!m.fatal,
        !!m.always_rollback,
      ],
    );
    const moduleId = (row as { id: number }).id;
    if (!m.steps?.length) continue;
    const hashes = m.steps.map((s) => s.screenshot).filter((h): h is string => !!h);
    if (hashes.length > 0) {
      const known = await q<{ hash: string }>('select hash from blobs where hash = any($1::text[])', [
        hashes,
      ]);
      const missing = hashes.filter((h) => !known.some((k) => k.hash === h));
      if (missing.length > 0) {
        throw new KubeqaError(
          'KQ_ERR_INVALID_ARGUMENT',
          `screenshot ${missing[0]} of module ${m.name} was not uploaded`,
          'upload it first (PUT …/artefacts/<name>)',
        );
      }
      await q(
        'insert into screenshot_links (job_id, hash) select $1, h from unnest($2::text[]) h on conflict do nothing',
        [jobId, hashes],
      );
    }
    await q(
      `insert into job_module_steps (module_id, num, kind, result, title, text, needle, similarity, screenshot_hash, details)
       select $1, * from unnest($2::int[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[], $8::real[], $9::text[], $10::jsonb[])
       on conflict (module_id, num) do update set kind = excluded.kind, result = excluded.result, title = excluded.title,
         text = excluded.text, needle = excluded.needle, similarity = excluded.similarity,
         screenshot_hash = excluded.screenshot_hash, details = excluded.details`,
      [
        moduleId,
        m.steps.map((s) => s.num),
        m.steps.map((s) => s.kind),
        m.steps.map((s) => s.result ?? 'none'),
        m.steps.map((s) => s.title ?? null),
        m.steps.map((s) => s.text ?? null),
        m.steps.map((s) => s.needle ?? null),
        m.steps.map((s) => s.similarity ?? null),
        m.steps.map((s) => s.screenshot ?? null),
        m.steps.map((s) => (s.details === undefined ? null : JSON.stringify(s.details))),
      ],
    );
  }
}

export async function knownBlob(q: QueryFn, hash: string): Promise<boolean> {
  return (await q('select 1 from blobs where hash = $1', [hash])).length > 0;
}

export async function linkArtefact(
  q: QueryFn,
  jobId: number,
  name: string,
  hash: string,
  size?: number,
  contentType?: string,
): Promise<void> {
  if (size !== undefined) {
    await q(
      'insert into blobs (hash, size, content_type) values ($1, $2, $3) on conflict (hash) do nothing',
      [hash, size, contentType ?? 'application/octet-stream'],
    );
  }
  await q(
    `insert into job_artefacts (job_id, name, hash) values ($1, $2, $3)
     on conflict (job_id, name) do update set hash = excluded.hash, t_created = now()`,
    [jobId, name, hash],
  );
}

/** A module of a job as stored, with its flags (openQA's names) and its steps in order. */
export interface StoredModule {
  name: string;
  category: string;
  script: string;
  result: string;
  flags: string[];
  steps: StoredStep[];
}

export interface StoredStep {
  num: number;
  kind: string;
  result: string;
  title: string | null;
  text: string | null;
  needle: string | null;
  similarity: number | null;
  /** SHA-256 of the screenshot's PNG. */
  screenshot: string | null;
  /** The step's JSON details as the runner wrote them. */
  details: unknown;
}

/** A job's modules in order, each with its steps: what the API's details and the job page show. */
export async function jobModules(q: QueryFn, jobId: number): Promise<StoredModule[]> {
  const [modules, steps] = await Promise.all([
    q<{
      id: number;
      name: string;
      category: string;
      script: string;
      result: string;
      milestone: boolean;
      important: boolean;
      fatal: boolean;
      always_rollback: boolean;
    }>(
      `select id, name, category, script, result, milestone, important, fatal, always_rollback
         from job_modules where job_id = $1 order by sort_order, id`,
      [jobId],
    ),
    q<StoredStep & { module_id: number }>(
      `select s.module_id, s.num, s.kind, s.result, s.title, s.text, s.needle, s.similarity,
              s.screenshot_hash as screenshot, s.details
         from job_module_steps s join job_modules m on m.id = s.module_id where m.job_id = $1
        order by s.module_id, s.num`,
      [jobId],
    ),
  ]);
  const stepsOf = new Map<number, StoredStep[]>();
  for (const { module_id, ...step } of steps) {
    const list = stepsOf.get(Number(module_id)) ?? [];
    list.push(step);
    stepsOf.set(Number(module_id), list);
  }
  return modules.map((m) => ({
    name: m.name,
    category: m.category,
    script: m.script,
    result: m.result,
    flags: [
      m.milestone && 'milestone',
      m.important && 'important',
      m.fatal && 'fatal',
      m.always_rollback && 'always_rollback',
    ].filter((f): f is string => typeof f === 'string'),
    steps: stepsOf.get(Number(m.id)) ?? [],
  }));
}

/** openQA's `testresults`: modules in order, each with its steps. */
export async function jobDetails(q: QueryFn, jobId: number): Promise<Record<string, unknown>[]> {
  return (await jobModules(q, jobId)).map((m) => ({
    name: m.name,
    category: m.category,
    script: m.script,
    result: m.result,
    flags: m.flags,
    details: m.steps.map((s) => ({
      num: s.num,
      type: s.kind,
      result: s.result,
      title: s.title,
      text: s.text,
      needle: s.needle,
      similarity: s.similarity,
      screenshot: s.screenshot,
    })),
  }));
}
