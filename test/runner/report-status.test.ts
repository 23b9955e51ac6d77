// The pure parts of the runner's reports: result names, steps, which files are results.
import { describe, expect, it } from 'vitest';
import {
  apiModuleResult,
  isResultFile,
  MAX_INLINE_TEXT,
  statusSteps,
} from '../../worker-image/runner/report-status.js';

describe('report-status', () => {
  it("maps os-autoinst's module results to the API's", () => {
    expect(
      ['ok', 'fail', 'softfail', 'skip', 'na', 'canceled'].map((r) => apiModuleResult(r as 'ok')),
    ).toEqual(['passed', 'failed', 'softfailed', 'skipped', 'none', 'canceled']);
  });

  it('turns details into steps with hashes, inline text and the weakest area', () => {
    const steps = statusSteps(
      [
        {
          result: 'fail',
          screenshot: 'm-1.png',
          area: [
            { x: 0, y: 0, w: 1, h: 1, similarity: 99, result: 'ok' },
            { x: 0, y: 0, w: 1, h: 1, similarity: 80, result: 'fail' },
          ],
        },
        { result: 'ok', title: 'wait_serial', text: 'm-2.txt' },
        { result: 'unk', title: 'note', text: 'm-3.txt' },
      ],
      (f) => (f === 'm-1.png' ? 'a'.repeat(64) : undefined),
      (f) => (f === 'm-2.txt' ? 'ok\n' : 'x'.repeat(MAX_INLINE_TEXT + 5)),
    );
    expect(steps.map((s) => [s.num, s.kind, s.result])).toEqual([
      [1, 'screen', 'fail'],
      [2, 'serial', 'ok'],
      [3, 'text', 'unk'],
    ]);
    expect(steps[0]?.screenshot).toBe('a'.repeat(64));
    expect(steps[0]?.similarity).toBe(80);
    expect(steps[1]?.text).toBe('ok\n');
    expect(steps[2]?.text?.endsWith('[…]')).toBe(true);
  });

  it('uploads results, not QEMU files or paths outside the directory', () => {
    for (const ok of [
      'serial0.txt',
      'autoinst-log.txt',
      'vars.json',
      'video.webm',
      'testresults/a-1.png',
      'ulogs/x/y.log',
    ])
      expect(isResultFile(ok), ok).toBe(true);
    for (const no of ['qemu.pid', 'hd0.qcow2', 'qmp.sock', '../etc/passwd', 'testresults/../../x', '/abs'])
      expect(isResultFile(no), no).toBe(false);
  });
});
