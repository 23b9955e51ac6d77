// `kubeqa run` as a user runs it, on the busybox guest under TCG: the demo distribution passes
// with results in openQA's layout; module flags, soft failures, post_fail_hook and always_run
// give openQA's results; a dead QEMU or a broken distribution make the job incomplete with a reason.
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { JobResultFile, ModuleResultFile, TestOrderEntry } from '../../domain/runner/results.js';
import { testEnv } from '../env/index.js';
import { kubeqaRun, readJson } from '../helpers/kubeqa-cli.js';

const work = mkdtempSync(join(tmpdir(), 'kubeqa-run-test-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));

async function busyboxSettings(): Promise<string[]> {
  const { busybox } = await testEnv.qemu();
  return [
    `KERNEL=${busybox.kernel}`,
    `INITRD=${busybox.initrd}`,
    `APPEND=${busybox.append}`,
    'QEMUCPUS=2',
    'QEMURAM=256',
    'NUMDISKS=0',
    'TIMEOUT_SCALE=3',
  ];
}

const json = readJson;

describe('kubeqa run with the busybox demo (examples/busybox)', () => {
  it('passes end to end and leaves openQA-style results', async () => {
    const dir = join(work, 'demo');
    const run = await kubeqaRun([
      '--result-dir',
      dir,
      'CASEDIR=examples/busybox',
      'TEST=busybox',
      ...(await busyboxSettings()),
    ]);
    expect(run.stderr).toBe('');
    expect(run.code, run.stdout).toBe(0);
    expect(run.stdout).toContain('[1/3] boot/boot_to_shell');
    expect(run.stdout).toMatch(/result: passed/);

    const result = json<JobResultFile>(join(dir, 'job-result.json'));
    expect(result.result).toBe('passed');
    expect(result.modules.map((m) => [m.name, m.result])).toEqual([
      ['boot_to_shell', 'ok'],
      ['commands', 'ok'],
      ['poweroff', 'ok'],
    ]);
    const order = json<TestOrderEntry[]>(join(dir, 'testresults', 'test_order.json'));
    expect(order[0]).toEqual({
      name: 'boot_to_shell',
      category: 'boot',
      script: 'tests/boot/boot_to_shell.ts',
      flags: { fatal: true, milestone: true },
    });
    const commands = json<ModuleResultFile>(join(dir, 'testresults', 'result-commands.json'));
    expect(commands.result).toBe('ok');
    const titles = commands.details.map((d) => d.title).filter(Boolean);
    expect(titles).toEqual(['kernel', 'wait_serial']);
    const info = commands.details.find((d) => d.title === 'kernel');
    expect(readFileSync(join(dir, 'testresults', info?.text as string), 'utf8')).toMatch(
      /^Linux .*rdinit=\/sbin\/init/,
    );
    const shot = commands.details.find((d) => d.screenshot)?.screenshot as string;
    expect(
      readFileSync(join(dir, 'testresults', shot))
        .subarray(1, 4)
        .toString(),
    ).toBe('PNG');
    expect(readFileSync(join(dir, 'ulogs', 'hello'), 'utf8')).toBe('kubeqa\n');
    expect(readFileSync(join(dir, 'serial0.txt'), 'utf8')).toContain('typed-42');
    expect(json<Record<string, string>>(join(dir, 'vars.json')).CASEDIR).toMatch(/examples\/busybox$/);
    expect(readFileSync(join(dir, 'autoinst-log.txt'), 'utf8')).toContain(
      'assert_shutdown: the machine is shut down',
    );
    // video.webm: a WebM (EBML) file with content.
    const video = readFileSync(join(dir, 'video.webm'));
    expect(video.subarray(0, 4).toString('hex')).toBe('1a45dfa3');
    expect(video.length).toBeGreaterThan(1000);
  }, 300_000);
});

describe('kubeqa run: results as openQA computes them', () => {
  it('applies fatal, ignore_failure, always_run, soft failures and post_fail_hook; never logs secrets', async () => {
    const dir = join(work, 'semantics');
    const run = await kubeqaRun([
      '--result-dir',
      dir,
      'CASEDIR=test/runner/fixtures/semantics',
      'NOVIDEO=1',
      '_SECRET_PASSWORD=hunter3',
      ...(await busyboxSettings()),
    ]);
    expect(run.code, run.stdout).toBe(1);
    const result = json<JobResultFile>(join(dir, 'job-result.json'));
    expect(result.result).toBe('failed');
    expect(result.modules.map((m) => [m.name, m.result])).toEqual([
      ['boot', 'ok'],
      ['soft', 'softfail'],
      ['nonfatal_fail', 'fail'],
      ['ignored', 'fail'],
      ['after_nonfatal', 'ok'],
      ['fatal_default', 'fail'],
      ['never_runs', 'skip'],
      ['always', 'ok'],
    ]);
    const results = join(dir, 'testresults');
    const soft = json<ModuleResultFile>(join(results, 'result-soft.json'));
    expect(soft.dents).toBe(1);
    expect(readFileSync(join(results, soft.details.at(-1)?.text as string), 'utf8')).toContain('bsc#1234');
    const nonfatal = json<ModuleResultFile>(join(results, 'result-nonfatal_fail.json'));
    const failure = nonfatal.details.find((d) => d.title === 'assert_script_run');
    expect(readFileSync(join(results, failure?.text as string), 'utf8')).toContain(
      "assert_script_run: 'test -e /nonexistent' failed with exit code 1: the file must exist",
    );
    expect(nonfatal.details.some((d) => d.screenshot && d.result === 'fail')).toBe(true);
    expect(readFileSync(join(dir, 'ulogs', 'hook.log'), 'utf8')).toBe('from-post-fail-hook\n');
    const ignored = json<ModuleResultFile>(join(results, 'result-ignored.json'));
    expect(readFileSync(join(results, ignored.details[0]?.text as string), 'utf8')).toContain(
      'this failure is ignored',
    );
    const fatal = json<ModuleResultFile>(join(results, 'result-fatal_default.json'));
    expect(readFileSync(join(results, fatal.details[0]?.text as string), 'utf8')).toContain(
      'failed with exit code 3',
    );
    const log = readFileSync(join(dir, 'autoinst-log.txt'), 'utf8');
    expect(log).toContain('skipping flags/never_runs (after a failure: snapshots are not available');
    expect(log).toContain('type_string(<20 secret characters>)');
    const everything = [log, run.stdout, readFileSync(join(dir, 'vars.json'), 'utf8')].join('\n');
    expect(everything).not.toContain('hunter2');
    expect(everything).not.toContain('hunter3');
    expect(json<Record<string, string>>(join(dir, 'vars.json'))._SECRET_PASSWORD).toBe('[redacted]');
    expect(existsSync(join(dir, 'video.webm'))).toBe(false);
  }, 300_000);

  it('is incomplete, with the reason, when QEMU dies under the test', async () => {
    const dir = join(work, 'crash');
    const run = await kubeqaRun([
      '--result-dir',
      dir,
      'CASEDIR=test/runner/fixtures/crash',
      'NOVIDEO=1',
      ...(await busyboxSettings()),
    ]);
    expect(run.code).toBe(1);
    const result = json<JobResultFile>(join(dir, 'job-result.json'));
    expect(result.result).toBe('incomplete');
    expect(result.reason).toMatch(/QEMU exited unexpectedly \(code -, signal SIGKILL\)/);
    expect(run.stdout).toContain('result: incomplete — QEMU exited unexpectedly');
  }, 300_000);

  it('is incomplete, naming the file, when a test module is malformed (before any QEMU starts)', async () => {
    const dir = join(work, 'broken');
    const run = await kubeqaRun([
      '--result-dir',
      dir,
      'CASEDIR=test/runner/fixtures/broken',
      ...(await busyboxSettings()),
    ]);
    expect(run.code).toBe(1);
    const result = json<JobResultFile>(join(dir, 'job-result.json'));
    expect(result).toMatchObject({ result: 'incomplete' });
    expect(result.reason).toContain("tests/x/bad_flags.ts: flag 'fatal' must be true or false");
    expect(readdirSync(dir)).not.toContain('qemu.log');
  }, 120_000);

  it('refuses bad arguments with exit code 2', async () => {
    const bad = await kubeqaRun(['qemucpus=2']);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain("KQ_ERR_INVALID_ARGUMENT: 'qemucpus' is not a setting name");
    const noCasedir = await kubeqaRun(['QEMUCPUS=2']);
    expect(noCasedir.code).toBe(2);
    expect(noCasedir.stderr).toContain('the job needs CASEDIR=<test distribution>');
  }, 60_000);

  it('reports an invalid machine setting as incomplete with the setting named', async () => {
    const dir = join(work, 'badsetting');
    const run = await kubeqaRun(['--result-dir', dir, 'CASEDIR=examples/busybox', 'QEMUVGA=matrox']);
    expect(run.code).toBe(1);
    expect(json<JobResultFile>(join(dir, 'job-result.json')).reason).toContain(
      "setting QEMUVGA='matrox' is invalid: expected std, virtio, cirrus, qxl, none",
    );
  }, 60_000);
});
