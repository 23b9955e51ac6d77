// The Debian 12 installer demo (examples/debian-installer) end to end under `kubeqa run`, with
// needles cut from real screenshots; and a copy with one needle made wrong, which must fail
// naming the step, the tag and the closest candidate with its similarity.
import { execFileSync } from 'node:child_process';
import { cpSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { JobResultFile, ModuleResultFile } from '../../domain/runner/results.js';
import { testEnv } from '../env/index.js';
import { requireCommand } from '../env/system.js';
import { kubeqaRun, readJson } from '../helpers/kubeqa-cli.js';

const work = mkdtempSync(join(tmpdir(), 'kubeqa-installer-test-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));

async function installerSettings(): Promise<string[]> {
  const { debianInstaller } = await testEnv.qemu();
  return [
    `KERNEL=${debianInstaller.kernel}`,
    `INITRD=${debianInstaller.initrd}`,
    'APPEND=vga=788 console=ttyS0,115200 console=tty0 priority=high',
    'QEMUCPUS=2',
    'QEMURAM=1024',
    'NUMDISKS=0',
    'TIMEOUT_SCALE=3',
  ];
}

const json = readJson;

describe('kubeqa run with the Debian installer demo (examples/debian-installer)', () => {
  it('passes language, location, keyboard, hostname and domain by their needles', async () => {
    const dir = join(work, 'demo');
    const run = await kubeqaRun([
      '--result-dir',
      dir,
      'CASEDIR=examples/debian-installer',
      'NOVIDEO=1',
      ...(await installerSettings()),
    ]);
    expect(run.code, run.stdout).toBe(0);
    const result = json<JobResultFile>(join(dir, 'job-result.json'));
    expect(result.result).toBe('passed');
    expect(result.modules.map((m) => m.result)).toEqual(['ok', 'ok', 'ok', 'ok', 'ok']);
    const keyboard = json<ModuleResultFile>(join(dir, 'testresults', 'result-keyboard.json'));
    const match = keyboard.details.find((d) => d.needle);
    expect(match).toMatchObject({
      result: 'ok',
      needle: 'installer-keyboard-20261121',
      tags: ['installer-keyboard'],
    });
    expect(match?.area?.map((a) => a.result)).toEqual(['ok', 'ok']);
    expect(match?.area?.[0]?.similarity).toBeGreaterThanOrEqual(96);
    expect(
      readFileSync(join(dir, 'testresults', match?.screenshot as string))
        .subarray(1, 4)
        .toString(),
    ).toBe('PNG');
  }, 900_000);

  it('fails on a wrong needle, naming the step, the tag and the closest candidate', async () => {
    const ffmpeg = requireCommand('ffmpeg', ['ffmpeg']);
    const distri = join(work, 'wrong');
    cpSync('examples/debian-installer', distri, { recursive: true });
    // Paint over the keyboard needle's "American English" row: the needle now expects a black bar.
    const png = join(distri, 'needles', 'installer-keyboard-20261121.png');
    const painted = join(work, 'painted.png');
    execFileSync(ffmpeg, [
      '-loglevel',
      'error',
      '-y',
      '-i',
      png,
      '-vf',
      'drawbox=x=383:y=80:w=218:h=18:color=black:t=fill',
      painted,
    ]);
    cpSync(painted, png);
    const dir = join(work, 'wrong-result');
    const run = await kubeqaRun([
      '--result-dir',
      dir,
      `CASEDIR=${distri}`,
      'NOVIDEO=1',
      ...(await installerSettings()),
      'TIMEOUT_SCALE=1',
    ]);
    expect(run.code).toBe(1);
    const result = json<JobResultFile>(join(dir, 'job-result.json'));
    expect(result.result).toBe('failed');
    expect(result.modules.map((m) => [m.name, m.result])).toEqual([
      ['language', 'ok'],
      ['location', 'ok'],
      ['keyboard', 'fail'],
      ['hostname', 'skip'],
      ['domain', 'skip'],
    ]);
    const keyboard = json<ModuleResultFile>(join(dir, 'testresults', 'result-keyboard.json'));
    const failed = keyboard.details.find((d) => d.result === 'fail' && d.tags);
    expect(failed?.tags).toEqual(['installer-keyboard']);
    expect(failed?.needles?.[0]?.name).toBe('installer-keyboard-20261121');
    expect(failed?.needles?.[0]?.area.map((a) => a.result)).toEqual(['ok', 'fail']);
    const log = readFileSync(join(dir, 'autoinst-log.txt'), 'utf8');
    expect(log).toMatch(
      /assert_screen\('installer-keyboard'\) at step 1 of keyboard: no candidate needle matched within [\d.]+ s; closest candidate: installer-keyboard-20261121 with similarity 0\.\d{3}/,
    );
    expect(run.stdout).toContain('keyboard: fail');
  }, 900_000);
});
