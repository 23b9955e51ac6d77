// Test distributions: sources (directory or git URL#ref), schedules (main.ts or SCHEDULE) and
// module loading, also from a plain directory without a package.json (loaded as CommonJS).
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import {
  loadModule,
  loadSchedule,
  parseSource,
  resolveSource,
} from '../../worker-image/runner/distribution.js';

const work = mkdtempSync(join(tmpdir(), 'kubeqa-distri-test-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));

function distri(name: string, files: Record<string, string>): string {
  const dir = join(work, name);
  for (const [path, text] of Object.entries(files)) {
    mkdirSync(join(dir, path, '..'), { recursive: true });
    writeFileSync(join(dir, path), text);
  }
  return dir;
}

const MODULE = `import type { TestModule } from '/nowhere/testapi.js';
export default { flags: { fatal: false }, async run(t) { t.diag('hi'); } } satisfies TestModule;
`;

describe('parseSource', () => {
  it('tells directories from git URLs with an optional ref', () => {
    expect(parseSource('examples/busybox')).toEqual({ kind: 'dir', path: 'examples/busybox' });
    expect(parseSource('https://github.com/os-autoinst/os-autoinst-distri-example.git#main')).toEqual({
      kind: 'git',
      url: 'https://github.com/os-autoinst/os-autoinst-distri-example.git',
      ref: 'main',
    });
    expect(parseSource('git@example.org:qa/distri.git')).toEqual({
      kind: 'git',
      url: 'git@example.org:qa/distri.git',
    });
    expect(() => parseSource('https://example.org/d.git#main;rm -rf /')).toThrow(
      /is not a branch, tag or commit/,
    );
  });
});

describe('loadSchedule and loadModule', () => {
  it('loads main.ts and TypeScript modules from a directory without package.json', async () => {
    const dir = distri('plain', {
      'main.ts': `export default function (s: { loadtest(n: string): void; get_var(n: string): string | undefined }) {
  s.loadtest('boot/first');
  if (s.get_var('EXTRA') === '1') s.loadtest('x/second');
}
`,
      'tests/boot/first.ts': MODULE,
      'tests/x/second.mjs': 'export default { run() {} };\n',
    });
    const scheduled = await loadSchedule(dir, { EXTRA: '1' });
    expect(scheduled.map((m) => [m.name, m.category, m.script])).toEqual([
      ['first', 'boot', 'tests/boot/first.ts'],
      ['second', 'x', 'tests/x/second.mjs'],
    ]);
    const first = await loadModule(scheduled[0]!);
    expect(first.flags).toEqual({ fatal: false });
    expect(typeof first.module.run).toBe('function');
    const second = await loadModule(scheduled[1]!);
    expect(second.flags).toEqual({});
  });

  it('takes SCHEDULE over main.ts', async () => {
    const dir = distri('sched', { 'tests/a/one.ts': MODULE, 'tests/b/two.ts': MODULE });
    const scheduled = await loadSchedule(dir, { SCHEDULE: 'tests/b/two, a/one.ts' });
    expect(scheduled.map((m) => m.name)).toEqual(['two', 'one']);
  });

  it.each([
    [{ 'tests/a/one.ts': MODULE }, {}, /has no main.ts and the job has no SCHEDULE setting/],
    [{ 'main.ts': 'export default 42;\n' }, {}, /main.ts: its default export must be a function/],
    [{ 'tests/a/one.ts': MODULE }, { SCHEDULE: 'a/missing' }, /test module 'a\/missing' not found/],
    [
      { 'tests/a/one.ts': MODULE, 'tests/b/one.ts': MODULE },
      { SCHEDULE: 'a/one,b/one' },
      /'one' is scheduled twice/,
    ],
  ])('reports a broken distribution clearly (%#)', async (files, settings, message) => {
    const dir = distri(`broken-${Math.random().toString(36).slice(2)}`, files);
    await expect(loadSchedule(dir, settings)).rejects.toThrow(message);
  });

  it.each([
    ['export default { run: 1 };\n', /default export must be an object with a run\(t\) method/],
    ['export default { run() {}, flags: { fatal: 1 } };\n', /flag 'fatal' must be true or false/],
    ['export default { run() {}, flags: { important: true } };\n', /unknown flag 'important'/],
    ['export default { run() {}, post_fail_hook: 3 };\n', /post_fail_hook must be a function/],
    ['export default { run() { ;\n', /cannot be loaded/],
  ])('rejects a malformed module naming its file (%#)', async (text, message) => {
    const dir = distri(`mod-${Math.random().toString(36).slice(2)}`, { 'tests/a/m.ts': text });
    const [scheduled] = await loadSchedule(dir, { SCHEDULE: 'a/m' });
    await expect(loadModule(scheduled!)).rejects.toThrow(message);
    await expect(loadModule(scheduled!)).rejects.toThrow(/tests\/a\/m\.ts/);
  });
});

describe('resolveSource', () => {
  it('checks out a git URL at the ref after #', async () => {
    const repo = distri('repo', { 'main.ts': 'export default () => {};\n', 'tests/a/one.ts': MODULE });
    const git = (...args: string[]) =>
      execFileSync('git', ['-C', repo, '-c', 'user.name=t', '-c', 'user.email=t@example.org', ...args], {
        encoding: 'utf8',
      });
    git('init', '-q', '-b', 'main');
    git('add', '.');
    git('commit', '-q', '-m', 'one');
    git('tag', 'v1');
    writeFileSync(join(repo, 'tests/a/two.ts'), MODULE);
    git('add', '.');
    git('commit', '-q', '-m', 'two');
    const cache = join(work, 'cache');
    const previous = process.env.KUBEQA_CACHE_DIR;
    process.env.KUBEQA_CACHE_DIR = cache;
    try {
      const atTag = await resolveSource('CASEDIR', `file://${repo}#v1`, () => undefined);
      await expect(loadSchedule(atTag, { SCHEDULE: 'a/two' })).rejects.toThrow(/not found/);
      const atMain = await resolveSource('CASEDIR', `file://${repo}#main`, () => undefined);
      expect((await loadSchedule(atMain, { SCHEDULE: 'a/two' }))[0]?.name).toBe('two');
      await expect(resolveSource('CASEDIR', `file://${repo}#nope`, () => undefined)).rejects.toThrow(
        /CASEDIR: cannot check out .*#nope/,
      );
    } finally {
      if (previous === undefined) delete process.env.KUBEQA_CACHE_DIR;
      else process.env.KUBEQA_CACHE_DIR = previous;
    }
  });

  it('names the setting when a directory is missing', async () => {
    await expect(resolveSource('NEEDLES_DIR', join(work, 'missing'), () => undefined)).rejects.toThrow(
      /NEEDLES_DIR: .*missing is not a directory/,
    );
  });
});
