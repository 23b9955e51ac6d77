// The overall result as openQA computes it, and how steps fold into a module's result.
import { describe, expect, it } from 'vitest';
import {
  exitCodeFor,
  foldStepResult,
  overallResult,
  stopsAfterFailure,
} from '../../domain/runner/results.js';

describe('overallResult', () => {
  it('passes when every module passed', () => {
    expect(
      overallResult([
        { result: 'ok', flags: {} },
        { result: 'ok', flags: {} },
      ]),
    ).toEqual({ result: 'passed' });
  });

  it('soft-fails on a soft failure and fails on any failure', () => {
    expect(
      overallResult([
        { result: 'ok', flags: {} },
        { result: 'softfail', flags: {} },
      ]).result,
    ).toBe('softfailed');
    expect(
      overallResult([
        { result: 'softfail', flags: {} },
        { result: 'fail', flags: {} },
        { result: 'ok', flags: {} },
      ]).result,
    ).toBe('failed');
  });

  it('ignores a failure of an ignore_failure module and modules that did not run', () => {
    expect(
      overallResult([
        { result: 'ok', flags: {} },
        { result: 'fail', flags: { ignore_failure: true } },
        { result: 'skip', flags: {} },
      ]).result,
    ).toBe('passed');
  });

  it('is incomplete with the reason when the runner aborted, or when nothing was scheduled', () => {
    expect(
      overallResult([{ result: 'ok', flags: {} }], {
        result: 'incomplete',
        reason: 'backend died: QEMU exited',
      }),
    ).toEqual({
      result: 'incomplete',
      reason: 'backend died: QEMU exited',
    });
    expect(overallResult([])).toEqual({ result: 'incomplete', reason: 'no test module was scheduled' });
  });
});

describe('module results', () => {
  it('folds steps the way os-autoinst does', () => {
    expect(foldStepResult(undefined, 'ok')).toBe('ok');
    expect(foldStepResult('ok', 'softfail')).toBe('softfail');
    expect(foldStepResult('fail', 'softfail')).toBe('fail');
    expect(foldStepResult('softfail', 'ok')).toBe('softfail');
    expect(foldStepResult('ok', 'unk')).toBe('ok');
    expect(foldStepResult('softfail', 'fail')).toBe('fail');
  });

  it('stops after a failure unless fatal is explicitly false (no snapshots)', () => {
    expect(stopsAfterFailure({})).toBe(true);
    expect(stopsAfterFailure({ fatal: true })).toBe(true);
    expect(stopsAfterFailure({ fatal: false })).toBe(false);
  });

  it('exits 0 only for passed and softfailed', () => {
    expect(exitCodeFor('passed')).toBe(0);
    expect(exitCodeFor('softfailed')).toBe(0);
    expect(exitCodeFor('failed')).toBe(1);
    expect(exitCodeFor('incomplete')).toBe(1);
  });
});
