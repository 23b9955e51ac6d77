import { describe, expect, it } from 'vitest';
import { isKubeqaError } from '../../domain/errors.js';
import {
  assertTransition,
  auditTransitions,
  checkTransition,
  type JobStatus,
  type TransitionRecord,
} from '../../domain/jobs/state-machine.js';
import { JOB_RESULTS, JOB_STATES, type JobResult, type JobState } from '../../domain/jobs/states.js';

const s = (state: JobState, result: JobResult = 'none'): JobStatus => ({ state, result });

describe('job state machine', () => {
  it('walks the normal life cycle', () => {
    const steps = [
      s('scheduled'),
      s('assigned'),
      s('setup'),
      s('running'),
      s('uploading'),
      s('done', 'passed'),
    ];
    for (let i = 1; i < steps.length; i++)
      expect(checkTransition(steps[i - 1]!, steps[i]!)).toEqual({ ok: true });
  });

  it('lets an assigned job fall back to scheduled and a running job end without uploading', () => {
    expect(checkTransition(s('assigned'), s('scheduled')).ok).toBe(true);
    expect(checkTransition(s('running'), s('done', 'incomplete')).ok).toBe(true);
    expect(checkTransition(s('setup'), s('done', 'timeout_exceeded')).ok).toBe(true);
  });

  it('rejects skipping steps, going back and leaving a final state', () => {
    expect(checkTransition(s('scheduled'), s('running')).ok).toBe(false);
    expect(checkTransition(s('running'), s('setup')).ok).toBe(false);
    expect(checkTransition(s('setup'), s('scheduled')).ok).toBe(false);
    const fromDone = checkTransition(s('done', 'passed'), s('scheduled'));
    expect(fromDone).toEqual({ ok: false, why: 'done is final' });
    expect(checkTransition(s('cancelled', 'user_cancelled'), s('done', 'passed')).ok).toBe(false);
  });

  it('ties results to states', () => {
    // pending states carry no result
    expect(checkTransition(s('scheduled'), s('assigned', 'passed')).ok).toBe(false);
    // a job that never ran cannot pass or fail
    expect(checkTransition(s('setup'), s('done', 'passed')).ok).toBe(false);
    expect(checkTransition(s('assigned'), s('done', 'failed')).ok).toBe(false);
    // done carries a verdict, cancelled a reason for stopping
    expect(checkTransition(s('running'), s('done', 'user_cancelled')).ok).toBe(false);
    expect(checkTransition(s('running'), s('cancelled', 'passed')).ok).toBe(false);
    expect(checkTransition(s('running'), s('cancelled', 'parallel_failed')).ok).toBe(true);
    // a job that never had a slot cannot be parallel_failed or restarted
    expect(checkTransition(s('scheduled'), s('cancelled', 'parallel_failed')).ok).toBe(false);
    expect(checkTransition(s('scheduled'), s('cancelled', 'skipped')).ok).toBe(true);
    expect(checkTransition(s('scheduled'), s('cancelled', 'obsoleted')).ok).toBe(true);
    expect(checkTransition(s('uploading'), s('done', 'softfailed')).ok).toBe(true);
  });

  it('accepts exactly the expected number of (from, to) pairs', () => {
    let legal = 0;
    for (const fs of JOB_STATES)
      for (const fr of JOB_RESULTS)
        for (const ts of JOB_STATES)
          for (const tr of JOB_RESULTS) if (checkTransition(s(fs, fr), s(ts, tr)).ok) legal++;
    // scheduled: assigned, cancelled×3; assigned: setup, scheduled, done×2, cancelled×6;
    // setup: running, done×2, cancelled×6; running: uploading, done×5, cancelled×6;
    // uploading: done×5, cancelled×6
    expect(legal).toBe(4 + 10 + 9 + 12 + 11);
  });

  it('refuses unknown states and results', () => {
    expect(checkTransition(s('scheduled'), { state: 'flying' as JobState, result: 'none' })).toEqual({
      ok: false,
      why: 'unknown state "flying"',
    });
    expect(checkTransition(s('running'), { state: 'done', result: 'great' as JobResult }).ok).toBe(false);
  });

  it('throws KQ_ERR_ILLEGAL_TRANSITION and logs the rejection', () => {
    const warnings: Array<{ details: object; message: string }> = [];
    const log = { warn: (details: object, message: string) => warnings.push({ details, message }) };
    let thrown: unknown;
    try {
      assertTransition(7, s('done', 'passed'), s('running'), log);
    } catch (error) {
      thrown = error;
    }
    expect(isKubeqaError(thrown) && thrown.code).toBe('KQ_ERR_ILLEGAL_TRANSITION');
    expect((thrown as Error).message).toContain('job 7 cannot go from done/passed to running/none');
    expect(warnings).toEqual([
      {
        details: { jobId: 7, from: 'done/passed', to: 'running/none', why: 'done is final' },
        message: 'illegal job transition rejected',
      },
    ]);
    expect(() => assertTransition(7, s('running'), s('uploading'), log)).not.toThrow();
    expect(warnings).toHaveLength(1);
  });
});

describe('transition audit', () => {
  const t = (jobId: number, from: JobStatus, to: JobStatus): TransitionRecord => ({ jobId, from, to });

  it('accepts interleaved legal histories', () => {
    const report = auditTransitions(
      [
        t(1, s('scheduled'), s('assigned')),
        t(2, s('scheduled'), s('cancelled', 'skipped')),
        t(1, s('assigned'), s('setup')),
        t(1, s('setup'), s('running')),
        t(1, s('running'), s('done', 'failed')),
      ],
      { requireFinal: true },
    );
    expect(report.ok).toBe(true);
    expect(report.last.get(1)).toEqual(s('done', 'failed'));
  });

  it('reports illegal steps, gaps, late starts and unfinished jobs', () => {
    const report = auditTransitions(
      [
        t(1, s('scheduled'), s('running')),
        t(2, s('assigned'), s('setup')),
        t(3, s('scheduled'), s('assigned')),
        t(3, s('setup'), s('running')),
        t(4, s('scheduled'), s('cancelled', 'user_cancelled')),
        t(4, s('cancelled', 'user_cancelled'), s('scheduled')),
      ],
      { requireFinal: true },
    );
    expect(report.ok).toBe(false);
    expect(report.violations.map((v) => [v.index, v.jobId])).toEqual([
      [0, 1],
      [1, 2],
      [3, 3],
      [5, 4],
      [6, 1],
      [6, 2],
      [6, 3],
      [6, 4],
    ]);
    expect(report.violations[2]!.why).toBe('starts at setup/none but the job was assigned/none');
  });
});
