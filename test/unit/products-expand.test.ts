// Product expansion rules, pure: precedence, +VAR, WORKER_CLASS, %VAR%, filters, dependencies, cycles.
import { describe, expect, it } from 'vitest';
import { parseJobCreation } from '../../domain/jobs/create-params.js';
import { nodesOnCycles } from '../../domain/jobs/dependencies.js';
import { cloneEdges } from '../../domain/jobs/restart.js';
import { expandProduct, obsoletionPolicy, type TemplateRow } from '../../domain/products/expand.js';
import { assetsOfSettings, expandPlaceholders, mergeSettings } from '../../domain/products/settings.js';

const product = { DISTRI: 'debian', VERSION: '12', FLAVOR: 'netinst', ARCH: 'x86_64', BUILD: '1' };

function template(
  test: string,
  machine: string,
  suite: Record<string, string> = {},
  extra: Partial<TemplateRow> = {},
): TemplateRow {
  return {
    templateId: 1,
    name: '',
    prio: null,
    settings: {},
    group: { id: 1, name: 'g', defaultPriority: 50 },
    product: { distri: 'debian', version: '12', flavor: 'netinst', arch: 'x86_64', settings: {} },
    machine: { name: machine, backend: 'qemu', settings: {} },
    testSuite: { name: test, settings: suite },
    ...extra,
  };
}

describe('settings', () => {
  it('later layers win, +VAR locks, WORKER_CLASS is a union until the request replaces it', () => {
    expect(
      mergeSettings([{ A: 'p', B: 'p' }, { A: 'm' }, { '+B': 's' }, { B: 't' }, { A: 'r', B: 'r' }]),
    ).toEqual({ A: 'r', B: 's' });
    expect(mergeSettings([{ WORKER_CLASS: 'a' }, { WORKER_CLASS: 'b,a' }, {}, {}, {}])).toEqual({
      WORKER_CLASS: 'a,b',
    });
    expect(mergeSettings([{ WORKER_CLASS: 'a' }, {}, {}, {}, { WORKER_CLASS: 'x' }])).toEqual({
      WORKER_CLASS: 'x',
    });
    expect(mergeSettings([{ A: '1' }, {}, {}, {}, { '+A': '2' }])).toEqual({ A: '2' });
  });

  it('expands %VAR% recursively, keeps unknown ones, refuses cycles', () => {
    expect(expandPlaceholders({ A: '%B%-%C%', B: '%C%x', C: 'c', D: '%NOPE%' })).toEqual({
      A: 'cx-c',
      B: 'cx',
      C: 'c',
      D: '%NOPE%',
    });
    expect(() => expandPlaceholders({ A: '%B%', B: '%A%' })).toThrow(/refers to itself/);
  });

  it('finds assets by setting name', () => {
    expect(
      assetsOfSettings({
        ISO: 'a.iso',
        ISO_1: 'b.iso',
        HDD_1: 'c.qcow2',
        KERNEL: 'vmlinuz',
        REPO_0: 'r',
        X: 'y',
        HDD_2: 'http://x/y',
      }),
    ).toEqual([
      { type: 'iso', name: 'a.iso' },
      { type: 'iso', name: 'b.iso' },
      { type: 'hdd', name: 'c.qcow2' },
      { type: 'other', name: 'vmlinuz' },
      { type: 'repo', name: 'r' },
    ]);
  });
});

describe('expandProduct', () => {
  it('makes one job per template with TEST, MACHINE, priority and group', () => {
    const plan = expandProduct(product, [
      template('a', 'm1'),
      template('b', 'm2', {}, { prio: 7, name: 'b_renamed' }),
    ]);
    expect(plan.jobs.map((j) => [j.test, j.machine, j.priority])).toEqual([
      ['a', 'm1', 50],
      ['b_renamed', 'm2', 7],
    ]);
    expect(plan.jobs[1]?.settings).toMatchObject({
      TEST: 'b_renamed',
      TEST_SUITE_NAME: 'b',
      JOB_TEMPLATE_NAME: 'b_renamed',
      MACHINE: 'm2',
    });
  });

  it('resolves START_AFTER_TEST, START_DIRECTLY_AFTER_TEST and PARALLEL_WITH on the same machine or @machine', () => {
    const plan = expandProduct(product, [
      template('install', 'm1'),
      template('install', 'm2'),
      template('boot', 'm1', { START_AFTER_TEST: 'install' }),
      template('next', 'm1', { START_DIRECTLY_AFTER_TEST: 'boot', PARALLEL_WITH: 'install@m2' }),
    ]);
    expect(plan.failed).toEqual([]);
    expect(plan.edges).toEqual([
      { child: 2, parent: 0, type: 'chained' },
      { child: 3, parent: 2, type: 'directly_chained' },
      { child: 3, parent: 1, type: 'parallel' },
    ]);
  });

  it('refuses dependency cycles and the jobs that depend on them', () => {
    const plan = expandProduct(product, [
      template('a', 'm', { START_AFTER_TEST: 'b' }),
      template('b', 'm', { START_AFTER_TEST: 'a' }),
      template('c', 'm', { START_AFTER_TEST: 'a' }),
      template('d', 'm'),
    ]);
    expect(plan.jobs.map((j) => j.test)).toEqual(['d']);
    expect(plan.failed.map((f) => f.job_name).sort()).toEqual(['a@m', 'b@m', 'c@m']);
    expect(plan.failed.find((f) => f.job_name === 'c@m')?.error_messages[0]).toBe(
      'depends on a@m, which could not be scheduled',
    );
  });

  it('filters by _GROUP, TEST and MACHINE; parents come along unless _SKIP_CHAINED_DEPS; children with _INCLUDE_CHILDREN', () => {
    const templates = [
      template('install', 'm1'),
      template('boot', 'm1', { START_AFTER_TEST: 'install' }),
      template('other', 'm1', {}, { group: { id: 2, name: 'h', defaultPriority: 30 } }),
    ];
    expect(
      expandProduct({ ...product, _GROUP: 'h' }, templates).jobs.map((j) => [j.test, j.priority]),
    ).toEqual([['other', 30]]);
    expect(expandProduct({ ...product, TEST: 'boot' }, templates).jobs.map((j) => j.test)).toEqual([
      'install',
      'boot',
    ]);
    expect(
      expandProduct({ ...product, TEST: 'boot', _SKIP_CHAINED_DEPS: '1' }, templates).jobs.map((j) => j.test),
    ).toEqual(['boot']);
    expect(expandProduct({ ...product, TEST: 'install' }, templates).jobs.map((j) => j.test)).toEqual([
      'install',
    ]);
    expect(
      expandProduct({ ...product, TEST: 'install', _INCLUDE_CHILDREN: '1' }, templates).jobs.map(
        (j) => j.test,
      ),
    ).toEqual(['install', 'boot']);
    expect(expandProduct({ ...product, MACHINE: 'm9' }, templates).jobs).toEqual([]);
  });

  it('names missing product keys and bad numbers', () => {
    expect(() => expandProduct({ DISTRI: 'd' }, [])).toThrow('missing parameters: VERSION, FLAVOR, ARCH');
    expect(() => expandProduct({ ...product, _PRIORITY: 'high' }, [])).toThrow(
      "_PRIORITY must be an integer, got 'high'",
    );
    expect(() => expandProduct({ ...product, _GROUP_ID: 'x' }, [])).toThrow(
      "_GROUP_ID must be an integer, got 'x'",
    );
  });

  it('reads the obsoletion policy', () => {
    expect(obsoletionPolicy({ _OBSOLETE: '1' }).mode).toBe('obsolete');
    expect(obsoletionPolicy({ _DEPRIORITIZEBUILD: '1', _DEPRIORITIZE_LIMIT: '80' })).toMatchObject({
      mode: 'deprioritize',
      limit: 80,
    });
    expect(obsoletionPolicy({})).toMatchObject({ mode: 'none' });
    expect(() => obsoletionPolicy({ _DEPRIORITIZE_LIMIT: 'x' })).toThrow(
      '_DEPRIORITIZE_LIMIT must be a number',
    );
  });
});

describe('jobs POST parameters', () => {
  it('splits TEST:suffix clusters and resolves _START_AFTER to suffixes or ids', () => {
    const jobs = parseJobCreation({
      DISTRI: 'd',
      'TEST:a': 'x',
      'TEST:b': 'y',
      '_START_AFTER:b': 'a',
      '_PARALLEL:a': '17',
    });
    expect(jobs.map((j) => [j.suffix, j.settings.TEST, j.settings.DISTRI])).toEqual([
      ['a', ['x'], ['d']],
      ['b', ['y'], ['d']],
    ]);
    expect(jobs[0]?.parents).toEqual([{ type: 'parallel', jobId: 17 }]);
    expect(jobs[1]?.parents).toEqual([{ type: 'chained', suffix: 'a' }]);
    expect(() => parseJobCreation({ DISTRI: 'd' })).toThrow('missing parameter: TEST');
    expect(() => parseJobCreation({ 'TEST:a': 'x', '_START_AFTER:a': 'zz' })).toThrow(
      'names neither a job of this request nor a job id',
    );
    expect(
      parseJobCreation({ TEST: 'x', WORKER_CLASS: ['a', 'b'], 'KEY[]': ['1', '2'], FOO: ['1', '2'] })[0]
        ?.settings,
    ).toEqual({
      TEST: ['x'],
      WORKER_CLASS: ['a', 'b'],
      KEY: ['1', '2'],
      FOO: ['2'],
    });
  });
});

describe('dependency graph', () => {
  it('finds nodes on cycles, self loops included', () => {
    const edges = [
      { child: 1, parent: 2, type: 'chained' as const },
      { child: 2, parent: 3, type: 'chained' as const },
      { child: 3, parent: 1, type: 'chained' as const },
      { child: 4, parent: 1, type: 'chained' as const },
      { child: 5, parent: 5, type: 'parallel' as const },
    ];
    expect([...nodesOnCycles([1, 2, 3, 4, 5], edges)].sort()).toEqual([1, 2, 3, 5]);
  });

  it('connects clones among themselves and to parents that were not restarted', () => {
    const edges = [
      { child: 2, parent: 1, type: 'chained' as const },
      { child: 3, parent: 2, type: 'chained' as const },
      { child: 9, parent: 8, type: 'parallel' as const },
    ];
    expect(cloneEdges(new Set([2, 3]), edges)).toEqual([
      { child: 2, parent: 1, parentIsOld: true, type: 'chained' },
      { child: 3, parent: 2, parentIsOld: false, type: 'chained' },
    ]);
  });
});
