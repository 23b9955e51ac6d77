import { describe, expect, it } from 'vitest';
import { jobCrStatus, resultReason, ttlDecision } from '../../operator/reconcilers/job-status.js';

const t0 = new Date('2026-11-21T08:00:00Z');
const t1 = new Date('2026-11-21T08:05:00Z');
const base = { id: 12, result: 'none' as const, reason: null, startedAt: null, finishedAt: null };
const webUrl = 'https://qa.example.org/';

describe('jobCrStatus', () => {
  it('explains a waiting job', () => {
    const status = jobCrStatus(
      { ...base, state: 'scheduled', reason: 'no slot of class qemu_aarch64' },
      { webUrl, generation: 1, now: t0 },
    );
    expect(status).toMatchObject({
      phase: 'scheduled',
      result: 'none',
      jobId: 12,
      url: 'https://qa.example.org/tests/12',
      observedGeneration: 1,
    });
    expect(status.conditions).toEqual([
      {
        type: 'Scheduled',
        status: 'False',
        reason: 'Waiting',
        message: 'no slot of class qemu_aarch64',
        observedGeneration: 1,
        lastTransitionTime: '2026-11-21T08:00:00Z',
      },
      {
        type: 'Running',
        status: 'False',
        reason: 'NotStarted',
        message: 'the test has not started',
        observedGeneration: 1,
        lastTransitionTime: '2026-11-21T08:00:00Z',
      },
      {
        type: 'Finished',
        status: 'False',
        reason: 'InProgress',
        message: 'the job has not finished',
        observedGeneration: 1,
        lastTransitionTime: '2026-11-21T08:00:00Z',
      },
    ]);
    expect(
      jobCrStatus({ ...base, state: 'scheduled' }, { webUrl, suspended: true, now: t0 }).conditions[0],
    ).toMatchObject({ reason: 'Suspended' });
  });

  it('follows a job to its result, keeping transition times of unchanged conditions', () => {
    const running = jobCrStatus({ ...base, state: 'running', startedAt: t0 }, { webUrl, now: t0 });
    expect(running.conditions.map((c) => [c.type, c.status, c.reason])).toEqual([
      ['Scheduled', 'True', 'Assigned'],
      ['Running', 'True', 'Running'],
      ['Finished', 'False', 'InProgress'],
    ]);
    const done = jobCrStatus(
      {
        ...base,
        state: 'done',
        result: 'parallel_failed',
        reason: 'parallel job 13 failed',
        startedAt: t0,
        finishedAt: t1,
      },
      { webUrl, previous: running.conditions, now: t1 },
    );
    expect(done).toMatchObject({
      phase: 'done',
      result: 'parallel_failed',
      startedAt: '2026-11-21T08:00:00Z',
      finishedAt: '2026-11-21T08:05:00Z',
    });
    expect(done.conditions[0]).toMatchObject({
      type: 'Scheduled',
      lastTransitionTime: '2026-11-21T08:00:00Z',
    });
    expect(done.conditions[1]).toMatchObject({
      type: 'Running',
      status: 'False',
      reason: 'Completed',
      lastTransitionTime: '2026-11-21T08:05:00Z',
    });
    expect(done.conditions[2]).toMatchObject({
      type: 'Finished',
      status: 'True',
      reason: 'ParallelFailed',
      message: 'parallel job 13 failed',
    });
  });

  it('names every result as a CamelCase reason', () => {
    expect(resultReason('passed')).toBe('Passed');
    expect(resultReason('timeout_exceeded')).toBe('TimeoutExceeded');
    expect(resultReason('user_cancelled')).toBe('UserCancelled');
  });
});

describe('ttlDecision', () => {
  it('keeps Jobs without a TTL or not finished, deletes when due, and says when to look again', () => {
    expect(ttlDecision(null, 60, t1)).toEqual({ delete: false });
    expect(ttlDecision(t0, undefined, t1)).toEqual({ delete: false });
    expect(ttlDecision(t0, 600, t1)).toEqual({ delete: false, requeueAfterMs: 300_000 });
    expect(ttlDecision(t0, 300, t1)).toEqual({ delete: true });
  });
});
