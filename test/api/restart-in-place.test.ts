// Restart with clone=0 (openQA's restart in place): the finished job goes back to scheduled through
// changeJobStates, so the audit (job_state_changes) records the step and the whole history stays
// legal for auditTransitions, with the run's traces (reason, times, worker) cleared.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { OpenDatabase } from '../../db/connect.js';
import { changeJobStates } from '../../db/jobs.js';
import {
  auditTransitions,
  checkTransition,
  RESTART_IN_PLACE,
  type TransitionRecord,
} from '../../domain/jobs/state-machine.js';
import type { JobResult } from '../../domain/jobs/states.js';
import { createJob, recordedTransitions } from '../helpers/jobs.js';
import { startServer, type TestServer } from './server.js';

const history = recordedTransitions;

/** What a runner's reports do to the job: assigned, setup, running, then done with a result. */
async function run(database: OpenDatabase, id: number, result: JobResult): Promise<void> {
  for (const state of ['assigned', 'setup', 'running'])
    await database.transaction((q) => changeJobStates(q, [{ id, state }], 'runner'));
  await database.transaction((q) =>
    changeJobStates(q, [{ id, state: 'done', result, reason: 'boom' }], 'runner'),
  );
}

describe('restart in place (clone=0)', () => {
  let s: TestServer;
  beforeAll(async () => {
    s = await startServer('restart_in_place');
  });
  afterAll(async () => {
    await s?.close();
  });

  it('records the revive in the audit and keeps the history legal', async () => {
    const id = await createJob(s, { TEST: 'inplace' });
    await run(s.database, id, 'failed');

    const restarted = await s.api('POST', `jobs/${id}/restart`, { clone: '0', prio: '7' });
    expect(restarted.status).toBe(200);
    expect(Object.assign({}, ...restarted.body.result)).toEqual({ [String(id)]: id });

    const [row] = await s.database.query<{
      state: string;
      result: string;
      reason: string | null;
      priority: number;
      t_started: Date | null;
      t_finished: Date | null;
    }>('select state, result, reason, priority, t_started, t_finished from jobs where id = $1', [id]);
    expect(row).toEqual({
      state: 'scheduled',
      result: 'none',
      reason: null,
      priority: 7,
      t_started: null,
      t_finished: null,
    });

    const before = await history(s.database, id);
    expect(before.at(-1)).toEqual({
      jobId: id,
      from: { state: 'done', result: 'failed' },
      to: { state: 'scheduled', result: 'none' },
      by: RESTART_IN_PLACE,
    });
    // the revived job runs again; its whole history is one legal sequence
    await run(s.database, id, 'passed');
    const report = auditTransitions(await history(s.database, id), { requireFinal: true });
    expect(report.violations).toEqual([]);
    expect(report.last.get(id)).toEqual({ state: 'done', result: 'passed' });
  });

  it('refuses a revive of an unfinished job and any other step by the restart', async () => {
    const id = await createJob(s, { TEST: 'unfinished' });
    await s.database.transaction((q) => changeJobStates(q, [{ id, state: 'assigned' }], 'scheduler'));
    await expect(
      s.database.transaction((q) =>
        changeJobStates(q, [{ id, state: 'scheduled', result: 'none' }], RESTART_IN_PLACE),
      ),
    ).rejects.toMatchObject({ code: 'KQ_ERR_ILLEGAL_TRANSITION' });
    // a final job may not leave its state in any other way
    for (const state of ['setup', 'running'])
      await s.database.transaction((q) => changeJobStates(q, [{ id, state }], 'runner'));
    await s.database.transaction((q) =>
      changeJobStates(q, [{ id, state: 'done', result: 'passed' }], 'runner'),
    );
    await expect(
      s.database.transaction((q) => changeJobStates(q, [{ id, state: 'scheduled', result: 'none' }])),
    ).rejects.toMatchObject({ code: 'KQ_ERR_ILLEGAL_TRANSITION' });
  });
});

describe('the restart-in-place step in the shared state machine', () => {
  const done = { state: 'done', result: 'passed' } as const;
  const scheduled = { state: 'scheduled', result: 'none' } as const;
  it('is legal only when marked as a restart in place, and only final → scheduled/none', () => {
    expect(checkTransition(done, scheduled).ok).toBe(false);
    expect(checkTransition(done, scheduled, { restartInPlace: true }).ok).toBe(true);
    expect(
      checkTransition({ state: 'cancelled', result: 'user_cancelled' }, scheduled, { restartInPlace: true })
        .ok,
    ).toBe(true);
    expect(checkTransition(done, { state: 'assigned', result: 'none' }, { restartInPlace: true }).ok).toBe(
      false,
    );
    expect(
      checkTransition({ state: 'running', result: 'none' }, scheduled, { restartInPlace: true }).ok,
    ).toBe(false);
    const record = (by?: string): TransitionRecord => ({ jobId: 1, from: done, to: scheduled, by });
    const first = { jobId: 1, from: { state: 'running', result: 'none' }, to: done } as const;
    expect(auditTransitions([first, record()], { startScheduled: false }).ok).toBe(false);
    expect(auditTransitions([first, record(RESTART_IN_PLACE)], { startScheduled: false }).ok).toBe(true);
  });
});
